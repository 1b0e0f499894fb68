// Setup for the sessions-library API tests: real storage (either engine, helpers/engines.ts) + registry, the sessions router, people, recorded sessions on disk.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { Broker } from '../../gateway/broker.js';
import { ManualClock } from '../../gateway/clock.js';
import type { Config } from '../../gateway/config.js';
import type { CommandRecord, SessionRecord, User } from '../../gateway/core/model.js';
import { auditRefusals } from '../../gateway/http/audit-refusal.js';
import { apiNotFound, errorHandler } from '../../gateway/http/errors.js';
import { sessionsRouter } from '../../gateway/http/routes/sessions.js';
import { silentLogger } from '../../gateway/log.js';
import { recordingPath } from '../../gateway/recording/files.js';
import { LiveSessions } from '../../gateway/sessions.js';
import type { AuditPort, StatePort } from '../../gateway/storage/port.js';
import { openTestStorage, type TestStorage } from '../helpers/engines.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { type PersonSpec, seedPeople, serveApi, stepUpPerson } from './api-harness.js';
import { requestsConfig, T0 } from './requests-fixture.js';

export { T0 };

/** eng-ws-01 and eng-ws-02 are approved by ot-supervisors, line1-ws by line1-supervisors (requestsConfig). */
export type Who = 'vendor' | 'vendor2' | 'sup' | 'supLine1' | 'auditor' | 'admin';
const PEOPLE: Record<Who, PersonSpec> = {
  vendor: { name: 'Alice', org: 'Acme', groups: ['vendors'], roles: ['vendor'] },
  vendor2: { name: 'Victor', org: 'Beta Controls', groups: ['vendors'], roles: ['vendor'] },
  sup: { name: 'Bob', org: 'Plant 3', groups: ['ot-supervisors'], roles: ['supervisor'] },
  supLine1: { name: 'Dave', org: 'Plant 3', groups: ['line1-supervisors'], roles: ['supervisor'] },
  auditor: { name: 'Erin', org: 'Plant 3', groups: ['auditors'], roles: ['auditor'] },
  admin: { name: 'Frank', org: 'Plant 3', groups: ['ot-admins'], roles: ['admin'] },
};

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface AuditLine {
  seq: number;
  type: string;
  actor: { kind: string; id?: string };
  subject?: Record<string, unknown>;
  data?: Record<string, unknown>;
}

export interface SeedOptions {
  who?: Who;
  targetId?: string;
  protocol?: 'ssh' | 'rdp';
  /** Minutes after T0. */
  startMin?: number;
  /** Minutes long; absent = not ended (live, if registered). */
  minutes?: number;
  endReason?: SessionRecord['endReason'];
  /** Commands typed, at seconds after the start. */
  commands?: Array<{ text: string; atSec: number; verdict?: CommandRecord['verdict'] }>;
  /** The cast's text; default: a small recording with one marker per command. Null: no recording. */
  cast?: string | null;
  sealed?: boolean;
}

export interface SessionsFixture {
  tmp: TempDir;
  dir: string;
  clock: ManualClock;
  config: Config;
  store: StatePort;
  audit: AuditPort;
  storage: TestStorage;
  registry: LiveSessions;
  base: string;
  users: Record<Who, User>;
  api(
    who: Who | undefined,
    method: string,
    path: string,
    o?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<Res>;
  /** A request with the path sent exactly as given (fetch would normalise `..`). */
  raw(who: Who, path: string): Promise<{ status: number; body: string }>;
  stepUp(who: Who): Promise<void>;
  seed(o?: SeedOptions): Promise<SessionRecord>;
  auditRecords(): Promise<AuditLine[]>;
  close(): Promise<void>;
}

export function castText(width: number, commands: string[], extra: string[] = []): string {
  const lines = [JSON.stringify({ version: 2, width, height: 24, timestamp: Math.floor(T0 / 1000), title: 'test' })];
  let t = 0.1;
  lines.push(JSON.stringify([t, 'o', '$ ']));
  for (const c of commands) {
    t += 0.5;
    lines.push(
      JSON.stringify([t, 'o', c]),
      JSON.stringify([t, 'm', c]),
      JSON.stringify([t + 0.1, 'o', '\r\nok\r\n$ ']),
    );
  }
  for (const e of extra) lines.push(e);
  return `${lines.join('\n')}\n`;
}

export async function openSessionsFixture(o: { viewedPeriodMs?: number } = {}): Promise<SessionsFixture> {
  const tmp = await tempDir('gatehouse-sessions-');
  const clock = new ManualClock(T0);
  const storage = await openTestStorage({ dir: tmp.path, clock, checkpointEvery: 20 });
  const { state: store, audit, commands: commandLog } = storage;
  const config = requestsConfig(tmp.path);
  const registry = new LiveSessions({ closeTimeoutMs: 1000 });
  const broker = new Broker({ config, store, audit, clock, logger: silentLogger, sessions: registry });
  const { users } = await seedPeople(store, PEOPLE, {
    at: T0 - 3600_000,
    expiresAt: T0 + 86_400_000,
    steppedUp: false,
  });
  const deps = { config, store, audit, commands: commandLog, clock, logger: silentLogger, storageDir: tmp.path };
  const http = await serveApi(store, (app) => {
    app.use('/api', sessionsRouter({ deps, broker, sessions: registry, ...o }));
    app.use('/api', apiNotFound);
    app.use(errorHandler(silentLogger, auditRefusals({ audit, clock, logger: silentLogger })));
  });
  const { port, base } = http;

  const seed = async (s: SeedOptions = {}): Promise<SessionRecord> => {
    const id = `ses_${randomBytes(12).toString('base64url')}`;
    const who = s.who ?? 'vendor';
    const start = T0 + (s.startMin ?? 0) * 60_000;
    const commands = s.commands ?? [];
    const rec: SessionRecord = {
      id,
      grantId: `grt_${randomBytes(6).toString('hex')}`,
      requestId: `req_${randomBytes(6).toString('hex')}`,
      userId: users[who].id,
      targetId: s.targetId ?? 'eng-ws-01',
      protocol: s.protocol ?? 'ssh',
      via: s.protocol === 'rdp' ? 'rdp' : 'ssh',
      startedAt: new Date(start).toISOString(),
      sourceIp: '10.9.8.7',
      ...(s.minutes !== undefined
        ? { endedAt: new Date(start + s.minutes * 60_000).toISOString(), endReason: s.endReason ?? 'client_closed' }
        : {}),
    };
    if (s.cast !== null) {
      const text =
        s.cast ??
        castText(
          80,
          commands.map((c) => c.text),
        );
      const path = recordingPath(tmp.path, id, start, s.protocol === 'rdp' ? 'guac' : 'cast');
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text);
      const bytes = Buffer.byteLength(text);
      const sha256 = createHash('sha256').update(text).digest('hex');
      rec.recording = { path: relative(tmp.path, path), ...(s.sealed === false ? {} : { sha256, bytes }) };
    }
    await store.update((d) => void d.sessions.push(rec));
    await Promise.all(
      commands.map((c, i) =>
        commandLog.append({
          id: `cmd_${id}_${i}`,
          sessionId: id,
          at: new Date(start + c.atSec * 1000).toISOString(),
          text: c.text,
          verdict: c.verdict ?? 'allowed',
        }),
      ),
    );
    return rec;
  };

  return {
    tmp,
    dir: tmp.path,
    clock,
    config,
    store,
    audit,
    storage,
    registry,
    base,
    users,
    async api(who, method, path, opts = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(who ? { 'x-test-session': `ws_${who}` } : {}),
          ...opts.headers,
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
    raw(who, path) {
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path, headers: { 'x-test-session': `ws_${who}` } },
          (res) => {
            let body = '';
            res.on('data', (b: Buffer) => (body += b.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    },
    stepUp: (who) => stepUpPerson(store, who, clock.now()),
    seed,
    auditRecords: async () => (await storage.auditLines()).map((l) => JSON.parse(l) as AuditLine),
    async close() {
      await http.close();
      await storage.close();
      await tmp.remove();
    },
  };
}
