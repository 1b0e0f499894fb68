// Shared setup for the access-request tests: real storage (lowdb or PostgreSQL, helpers/engines.ts), the broker, routers in an express app, people with step-up.
import { Broker, type BrokerDeps } from '../../gateway/broker.js';
import { ManualClock } from '../../gateway/clock.js';
import { type Config, parseConfig } from '../../gateway/config.js';
import type { User } from '../../gateway/core/model.js';
import { auditRefusals } from '../../gateway/http/audit-refusal.js';
import { apiNotFound, errorHandler } from '../../gateway/http/errors.js';
import { type EventsDeps, eventsRouter } from '../../gateway/http/events.js';
import { requestsRouter } from '../../gateway/http/routes/requests.js';
import { targetsRouter } from '../../gateway/http/routes/targets.js';
import { silentLogger } from '../../gateway/log.js';
import type { Notifier } from '../../gateway/notify.js';
import { LiveSessions } from '../../gateway/sessions.js';
import type { WebSessionRecord } from '../../gateway/store.js';
import type { AuditPort, StatePort } from '../../gateway/storage/port.js';
import { openTestStorage, type TestStorage } from '../helpers/engines.js';
import { testConfigInput } from '../helpers/config.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { type PersonSpec, seedPeople, serveApi, stepUpPerson } from './api-harness.js';

/** Monday 2026-11-23 10:00 UTC = 11:00 in Berlin: inside eng-ws-01's weekday 06:00–18:00 window. */
export const T0 = Date.parse('2026-11-23T10:00:00.000Z');
export const MIN = 60_000;

const ssh = (host: string) => ({
  host,
  username: 'maint',
  hostKeySha256: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
  credential: { file: 'target-key' },
});

export function requestsConfig(dir: string, webhooks: string[] = []): Config {
  const input = testConfigInput(dir);
  input.notify = { webhooks };
  input.targets = [
    {
      id: 'eng-ws-01',
      name: 'Engineering workstation 01',
      zone: 'Cell 2',
      securityLevel: 3,
      ssh: ssh('10.2.0.15'),
      approvers: ['ot-supervisors'],
      approvalsRequired: 1,
      maxDurationMinutes: 240,
      maintenanceWindows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '06:00', to: '18:00' }],
    },
    {
      id: 'eng-ws-02',
      name: 'Engineering workstation 02 (four eyes)',
      zone: 'Cell 3',
      securityLevel: 3,
      ssh: ssh('10.2.0.16'),
      rdp: { host: '10.2.0.16', username: 'maint', credential: { env: 'WS02_PASSWORD' } },
      approvers: ['ot-supervisors'],
      approvalsRequired: 2,
    },
    {
      id: 'line1-ws',
      name: 'Line 1 workstation',
      zone: 'Line 1',
      securityLevel: 2,
      ssh: ssh('10.1.0.15'),
      approvers: ['line1-supervisors'],
    },
  ];
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new Error(`config invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.config;
}

export type Who = 'vendor' | 'vendor2' | 'sup' | 'sup2' | 'supOther' | 'auditor' | 'admin' | 'dual';
const PEOPLE: Record<Who, PersonSpec> = {
  vendor: { name: 'Alice', org: 'Acme', groups: ['vendors'], roles: ['vendor'] },
  vendor2: { name: 'Victor', org: 'Other Corp', groups: ['vendors'], roles: ['vendor'] },
  sup: { name: 'Bob', org: 'Plant 3', groups: ['ot-supervisors'], roles: ['supervisor'] },
  sup2: { name: 'Carol', org: 'Plant 3', groups: ['ot-supervisors'], roles: ['supervisor'] },
  supOther: { name: 'Dave', org: 'Plant 3', groups: ['line1-supervisors'], roles: ['supervisor'] },
  auditor: { name: 'Erin', org: 'Plant 3', groups: ['auditors'], roles: ['auditor'] },
  admin: { name: 'Frank', org: 'Plant 3', groups: ['ot-admins'], roles: ['admin'] },
  dual: { name: 'Dana', org: 'Plant 3', groups: ['vendors', 'ot-supervisors'], roles: ['vendor', 'supervisor'] },
};

export interface Fixture {
  tmp: TempDir;
  dir: string;
  clock: ManualClock;
  config: Config;
  store: StatePort;
  audit: AuditPort;
  storage: TestStorage;
  sessions: LiveSessions;
  broker: Broker;
  events: ReturnType<typeof eventsRouter>;
  base: string;
  users: Record<Who, User>;
  webSessions: Record<Who, WebSessionRecord>;
  /** One HTTP call as `who` (undefined: no session). */
  api(who: Who | undefined, method: string, path: string, body?: unknown): Promise<Api>;
  /** Marks `who`'s web session as stepped up now. */
  stepUp(who: Who, at?: number): Promise<void>;
  /** Records the audit log holds (read from audit.jsonl: what is durable). */
  auditRecords(): Promise<AuditLine[]>;
  close(): Promise<void>;
}

export interface Api {
  status: number;
  json: any;
}

export interface AuditLine {
  type: string;
  actor: { kind: string; id?: string };
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

export interface FixtureOptions {
  webhooks?: string[];
  broker?: Partial<BrokerDeps>;
  /** Builds the broker's notifier once the fixture's audit log and clock exist. */
  notifier?: (deps: { audit: AuditPort; clock: ManualClock }) => Notifier;
  events?: Partial<EventsDeps>;
}

export async function openFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const tmp = await tempDir('gatehouse-requests-');
  const clock = new ManualClock(T0);
  const storage = await openTestStorage({ dir: tmp.path, clock });
  const { state: store, audit } = storage;
  const config = requestsConfig(tmp.path, opts.webhooks);
  const sessions = new LiveSessions({ closeTimeoutMs: 500 });
  const notifier = opts.notifier?.({ audit, clock });
  const broker = new Broker({
    config,
    store,
    audit,
    clock,
    logger: silentLogger,
    sessions,
    ...(notifier ? { notifier } : {}),
    ...opts.broker,
  });

  const { users, webSessions } = await seedPeople(store, PEOPLE, {
    at: T0,
    expiresAt: T0 + 24 * 3600_000,
    steppedUp: true,
  });
  const events = eventsRouter({ broker, heartbeatMs: 60_000, ...opts.events });
  const http = await serveApi(store, (app) => {
    app.use('/api', requestsRouter({ broker, clock, config }));
    app.use('/api', targetsRouter({ broker }));
    app.use('/api', events);
    app.use('/api', apiNotFound);
    app.use(errorHandler(silentLogger, auditRefusals({ audit, clock, logger: silentLogger })));
  });
  const base = http.base;
  return {
    tmp,
    dir: tmp.path,
    clock,
    config,
    store,
    audit,
    storage,
    sessions,
    broker,
    events,
    base,
    users,
    webSessions,
    async api(who, method, path, body) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(who ? { 'x-test-session': `ws_${who}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    stepUp: (who, when = clock.now()) => stepUpPerson(store, who, when),
    auditRecords: async () => (await storage.auditLines()).map((l) => JSON.parse(l) as AuditLine),
    async close() {
      await http.close();
      await storage.close();
      await tmp.remove();
    },
  };
}

/** A valid request body for eng-ws-01 starting now, 2 h. */
export const body = (over: Record<string, unknown> = {}) => ({
  targetId: 'eng-ws-01',
  protocol: 'ssh',
  durationMinutes: 120,
  purpose: 'Update the S7 project for line 2',
  ...over,
});
