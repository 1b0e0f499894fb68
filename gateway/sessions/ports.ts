// What a vendor session (SSH, browser terminal, RDP) is handed: the few services it uses, not the whole of Deps.
// app.ts passes its Deps, which has all of these; a session cannot reach the rest (layers.test.ts).
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { StorageFaults } from '../storage-faults.js';
import type { AuditPort, StatePort } from '../storage/storage.js';
import type { JournalPorts } from './journal.js';
import type { PendingEnds } from './pending-ends.js';

export interface SessionPorts {
  clock: Clock;
  logger: Logger;
  /** The state and the audit log: written through the session's journal, and the audit log for in-session events. */
  store: StatePort;
  audit: AuditPort;
  /** `node.id`: the session record names the node that holds it. */
  config: Pick<Config, 'node'>;
  /** Absolute path of storage.dir: recordings are placed under it. */
  storageDir: string;
  /** Where a recording's disk fault is reported (healthz, the metric). */
  faults?: StorageFaults | undefined;
  /** Session ends storage refused, recorded once it recovers. */
  pendingEnds?: PendingEnds | undefined;
}

/** The journal's share of a session's ports. */
export const journalPorts = (p: SessionPorts): JournalPorts => ({
  store: p.store,
  audit: p.audit,
  clock: p.clock,
  node: p.config.node?.id,
  pendingEnds: p.pendingEnds,
});
