// Sessions library API: per-role visibility, filters, command search, recordings (ranges, path tricks, audit), integrity, terminate.
import { appendFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionRecord } from '../../gateway/core/model.js';
import type { CommandHit, SessionDetail, SessionView } from '../../gateway/library/session-views.js';
import { openSessionsFixture, type SessionsFixture, T0, type Who } from './sessions-fixture.js';

let fx: SessionsFixture;
/** a: vendor on eng-ws-01 (ended); b: vendor2 on line1-ws (ended, revoked); c: vendor2 on eng-ws-02 RDP; d: vendor on eng-ws-01, live. */
let a: SessionRecord;
let b: SessionRecord;
let c: SessionRecord;
let d: SessionRecord;
const closes: Array<{ reason: string; message: string }> = [];

beforeAll(async () => {
  fx = await openSessionsFixture();
  a = await fx.seed({
    who: 'vendor',
    startMin: 0,
    minutes: 30,
    commands: [
      { text: 'ls -la /opt/plc', atSec: 12 },
      { text: 'plc download --line 2', atSec: 95.5, verdict: 'alerted' },
      { text: 'shutdown -h now', atSec: 140, verdict: 'blocked' },
    ],
  });
  b = await fx.seed({
    who: 'vendor2',
    targetId: 'line1-ws',
    startMin: 60,
    minutes: 10,
    endReason: 'revoked',
    commands: [{ text: 'cat /etc/PLC.conf', atSec: 5 }],
  });
  c = await fx.seed({
    who: 'vendor2',
    targetId: 'eng-ws-02',
    protocol: 'rdp',
    startMin: 120,
    minutes: 45,
    endReason: 'window_ended',
    cast: 'guac-bytes',
  });
  d = await fx.seed({
    who: 'vendor',
    startMin: 200,
    commands: [{ text: 'tail -f /var/log/plc.log', atSec: 3 }],
    sealed: false,
  });
  // A live session, as an adapter registers it: close() is what the registry calls to end it.
  fx.registry.register({
    id: d.id,
    grantId: d.grantId,
    userId: d.userId,
    targetId: d.targetId,
    protocol: 'ssh',
    startedAt: d.startedAt,
    close: async (reason, message) => {
      closes.push({ reason, message });
      await fx.store.update((db) => {
        const s = db.sessions.find((x) => x.id === d.id)!;
        s.endedAt = new Date(fx.clock.now()).toISOString();
        s.endReason = reason;
      });
    },
  });
  fx.clock.set(T0 + 210 * 60_000);
});
afterAll(async () => {
  await fx?.close();
});

const ids = (r: { json: { sessions: SessionView[] } }) => r.json.sessions.map((s) => s.id).sort();
const list = async (who: Who, q = '') => {
  const r = await fx.api(who, 'GET', `/api/sessions${q}`);
  expect(r.status, r.text).toBe(200);
  return ids(r);
};

describe('who sees which sessions', () => {
  it('vendors their own only; supervisors the targets they approve; auditors and admins all', async () => {
    expect(await list('vendor')).toEqual([a.id, d.id].sort());
    expect(await list('vendor2')).toEqual([b.id, c.id].sort());
    expect(await list('sup')).toEqual([a.id, c.id, d.id].sort());
    expect(await list('supLine1')).toEqual([b.id]);
    expect(await list('auditor')).toEqual([a.id, b.id, c.id, d.id].sort());
    expect(await list('admin')).toEqual([a.id, b.id, c.id, d.id].sort());
    expect((await fx.api(undefined, 'GET', '/api/sessions')).status).toBe(401);
  });

  it('a session the caller may not see answers exactly like an unknown one, and the refusal is audited', async () => {
    const other = await fx.api('vendor', 'GET', `/api/sessions/${b.id}`);
    const unknown = await fx.api('vendor', 'GET', '/api/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAA');
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(other.json).toEqual(unknown.json);
    expect((await fx.api('supLine1', 'GET', `/api/sessions/${a.id}/commands`)).status).toBe(404);
    const denied = (await fx.auditRecords()).filter(
      (r) => r.type === 'access.denied' && r.data?.action === 'session.read',
    );
    expect(denied.map((r) => [r.subject?.sessionId, r.data?.exists])).toEqual(
      expect.arrayContaining([
        [b.id, true],
        ['ses_AAAAAAAAAAAAAAAAAAAAAAAA', false],
      ]),
    );
  });

  it('detail carries the vendor, target, recording seal and command counts; markup stays data', async () => {
    const r = await fx.api('auditor', 'GET', `/api/sessions/${a.id}`);
    expect(r.status).toBe(200);
    const v = r.json as SessionDetail;
    expect(v).toMatchObject({
      id: a.id,
      live: false,
      vendor: { id: 'usr_vendor', name: 'Alice', org: 'Acme' },
      target: { id: 'eng-ws-01', zone: 'Cell 2' },
      endReason: 'client_closed',
      durationSeconds: 1800,
      recording: { kind: 'cast', sha256: a.recording!.sha256, bytes: a.recording!.bytes, incomplete: false },
      commands: { total: 3, alerted: 1, blocked: 1 },
      can: { replay: true, terminate: false, watch: false },
    });
    const live = (await fx.api('sup', 'GET', `/api/sessions/${d.id}`)).json as SessionDetail;
    expect(live).toMatchObject({
      live: true,
      endedAt: null,
      recording: { sha256: null },
      can: { replay: true, terminate: true, watch: true },
    });
    // The vendor sees their own session but is offered neither replay nor terminate.
    const own = (await fx.api('vendor', 'GET', `/api/sessions/${d.id}`)).json as SessionDetail;
    expect(own.can).toEqual({ replay: false, terminate: false, watch: false });
  });
});

describe('filters', () => {
  it('by vendor, org, target, zone, protocol, time, end reason, live; unknown ids match nothing', async () => {
    expect(await list('auditor', '?vendor=usr_vendor2')).toEqual([b.id, c.id].sort());
    expect(await list('auditor', '?org=beta%20controls')).toEqual([b.id, c.id].sort());
    expect(await list('auditor', '?target=eng-ws-01')).toEqual([a.id, d.id].sort());
    expect(await list('auditor', '?zone=Line%201')).toEqual([b.id]);
    expect(await list('auditor', '?protocol=rdp')).toEqual([c.id]);
    expect(await list('auditor', '?endReason=revoked')).toEqual([b.id]);
    expect(await list('auditor', '?live=true')).toEqual([d.id]);
    expect(await list('auditor', '?live=false')).toEqual([a.id, b.id, c.id].sort());
    // Overlap with [from, to): a runs 10:00–10:30, b 11:00–11:10, c 12:00–12:45, d from 13:20 on.
    expect(
      await list(
        'auditor',
        `?from=${new Date(T0 + 20 * 60_000).toISOString()}&to=${new Date(T0 + 61 * 60_000).toISOString()}`,
      ),
    ).toEqual([a.id, b.id].sort());
    expect(await list('auditor', '?from=2026-11-23T13:00:00Z')).toEqual([d.id]);
    expect(await list('auditor', '?vendor=usr_nobody')).toEqual([]);
    expect(await list('auditor', '?target=../../etc')).toEqual([]);
    // A filter never widens what a role sees.
    expect(await list('vendor', '?vendor=usr_vendor2')).toEqual([]);
    expect(await list('supLine1', '?target=eng-ws-01')).toEqual([]);
  });

  it('pages newest first with a bound, and refuses malformed queries', async () => {
    const p1 = await fx.api('auditor', 'GET', '/api/sessions?limit=2');
    expect(p1.json.total).toBe(4);
    expect(p1.json.sessions.map((s: SessionView) => s.id)).toEqual([d.id, c.id]);
    const p2 = await fx.api('auditor', 'GET', '/api/sessions?limit=2&offset=2');
    expect(p2.json.sessions.map((s: SessionView) => s.id)).toEqual([b.id, a.id]);
    for (const [q, code] of [
      ['?limit=501', 'invalid_limit'],
      ['?limit=0', 'invalid_limit'],
      ['?from=yesterday', 'invalid_from'],
      ['?from=2026-11-23T10:00:00', 'invalid_from'],
      ['?protocol=telnet', 'invalid_protocol'],
      ['?endReason=exploded', 'invalid_end_reason'],
      ['?live=yes', 'invalid_live'],
      ['?vendor=a&vendor=b', 'invalid_vendor'],
      ['?sort=evil', 'unknown_parameter'],
      [`?org=${'x'.repeat(201)}`, 'invalid_org'],
    ] as const) {
      const r = await fx.api('auditor', 'GET', `/api/sessions${q}`);
      expect([q, r.status, r.json?.error?.code]).toEqual([q, 400, code]);
    }
  });
});

describe('captured commands', () => {
  it('per session, in order, with the offset from the session start', async () => {
    const r = await fx.api('sup', 'GET', `/api/sessions/${a.id}/commands`);
    expect(r.status).toBe(200);
    expect(r.json.commands.map((x: CommandHit) => [x.text, x.offsetSeconds, x.verdict])).toEqual([
      ['ls -la /opt/plc', 12, 'allowed'],
      ['plc download --line 2', 95.5, 'alerted'],
      ['shutdown -h now', 140, 'blocked'],
    ]);
  });

  it('search: case-insensitive substring across sessions, only over sessions the caller may see', async () => {
    const hits = async (who: Who, q: string) => {
      const r = await fx.api(who, 'GET', `/api/commands${q}`);
      expect(r.status, r.text).toBe(200);
      return (r.json.commands as CommandHit[]).map((h) => [h.sessionId, h.text, h.offsetSeconds]);
    };
    expect(await hits('auditor', '?q=PLC')).toEqual([
      [d.id, 'tail -f /var/log/plc.log', 3],
      [b.id, 'cat /etc/PLC.conf', 5],
      [a.id, 'plc download --line 2', 95.5],
      [a.id, 'ls -la /opt/plc', 12],
    ]);
    expect(await hits('vendor2', '?q=plc')).toEqual([[b.id, 'cat /etc/PLC.conf', 5]]);
    expect(await hits('supLine1', '?q=download')).toEqual([]);
    expect(await hits('auditor', '?q=plc&verdict=alerted')).toEqual([[a.id, 'plc download --line 2', 95.5]]);
    expect(await hits('auditor', '?q=plc&target=line1-ws')).toEqual([[b.id, 'cat /etc/PLC.conf', 5]]);
    expect(await hits('auditor', `?session=${a.id}&limit=1`)).toEqual([[a.id, 'shutdown -h now', 140]]);
    expect(
      await hits('auditor', `?from=${new Date(T0 + 60_000).toISOString()}&to=${new Date(T0 + 100_000).toISOString()}`),
    ).toEqual([[a.id, 'plc download --line 2', 95.5]]);
    const hit = (await fx.api('auditor', 'GET', '/api/commands?q=shutdown')).json.commands[0] as CommandHit;
    expect(hit).toMatchObject({
      vendor: { name: 'Alice', org: 'Acme' },
      target: { id: 'eng-ws-01' },
      protocol: 'ssh',
      rule: null,
    });
    expect((await fx.api('auditor', 'GET', `/api/commands?q=${'a'.repeat(201)}`)).status).toBe(400);
  });
});

describe('recordings', () => {
  const rec = (who: Who, id: string, headers: Record<string, string> = {}, method = 'GET') =>
    fx.api(who, method, `/api/sessions/${id}/recording`, { headers });
  const viewed = async (id: string) =>
    (await fx.auditRecords()).filter((r) => r.type === 'recording.viewed' && r.subject?.sessionId === id);

  it('serves the file by session id with type, no-store, the sealed hash; range requests; one audit record per viewing', async () => {
    const file = await readFile(join(fx.dir, a.recording!.path), 'utf8');
    const full = await rec('auditor', a.id);
    expect(full.status).toBe(200);
    expect(full.text).toBe(file);
    expect(full.headers.get('content-type')).toBe('application/x-asciicast');
    expect(full.headers.get('cache-control')).toBe('no-store');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.headers.get('content-disposition')).toBe(`attachment; filename="${a.id}.cast"`);
    expect(full.headers.get('x-recording-sha256')).toBe(a.recording!.sha256);

    const part = await rec('auditor', a.id, { range: 'bytes=0-9' });
    expect(part.status).toBe(206);
    expect(part.text).toBe(file.slice(0, 10));
    expect(part.headers.get('content-range')).toBe(`bytes 0-9/${file.length}`);
    const rest = await rec('auditor', a.id, { range: 'bytes=10-' });
    expect(rest.status).toBe(206);
    expect(rest.text).toBe(file.slice(10));
    const suffix = await rec('auditor', a.id, { range: 'bytes=-5' });
    expect(suffix.text).toBe(file.slice(-5));
    const beyond = await rec('auditor', a.id, { range: `bytes=${file.length + 10}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${file.length}`);
    // A malformed Range is ignored (the whole file), as RFC 9110 allows.
    expect((await rec('auditor', a.id, { range: 'lines=1-2' })).status).toBe(200);
    // HEAD answers the size without counting as a viewing.
    const head = await rec('admin', a.id, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(file.length));

    // Six requests by the auditor: one viewing. The admin's HEAD: none.
    const records = await viewed(a.id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      actor: { kind: 'user', id: 'usr_auditor' },
      subject: { sessionId: a.id, userId: 'usr_vendor', targetId: 'eng-ws-01' },
      data: { range: 'all', sha256: a.recording!.sha256 },
    });
    // Another person, or the same one after the period, is a new viewing.
    await rec('sup', a.id, { range: 'bytes=0-99' });
    expect((await viewed(a.id)).map((r) => r.actor.id)).toEqual(['usr_auditor', 'usr_sup']);
    fx.clock.advance(6 * 60_000);
    await rec('auditor', a.id);
    expect((await viewed(a.id)).map((r) => r.actor.id)).toEqual(['usr_auditor', 'usr_sup', 'usr_auditor']);
  });

  it('a live (unsealed) recording is served as far as it is written, without a hash header', async () => {
    const r = await rec('sup', d.id);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-recording-sha256')).toBeNull();
    expect(r.text).toContain('tail -f /var/log/plc.log');
  });

  it('vendors cannot fetch recordings, not even their own; supervisors of other targets get 404', async () => {
    const own = await rec('vendor', a.id);
    expect([own.status, own.json.error.code]).toEqual([403, 'forbidden']);
    const others = await rec('vendor2', a.id);
    expect([others.status, others.json.error.code]).toEqual([403, 'forbidden']);
    expect((await rec('supLine1', a.id)).status).toBe(404);
    expect((await rec('sup', b.id)).status).toBe(404);
    expect((await fx.api(undefined, 'GET', `/api/sessions/${a.id}/recording`)).status).toBe(401);
    expect(await viewed(b.id)).toHaveLength(0);
  });

  it('guessed ids, suffixes, `..` and encoded path tricks never reach a file', async () => {
    // Something worth stealing next to the recordings.
    const db =
      fx.storage.engine === 'lowdb' ? await readFile(join(fx.dir, 'db.json'), 'utf8') : JSON.stringify(fx.store.data);
    const paths = [
      `/api/sessions/${a.id}.cast/recording`,
      `/api/sessions/${a.id}.json/recording`,
      `/api/sessions/${a.id}.json`,
      `/api/sessions/${a.id}%2e%2e/recording`,
      '/api/sessions/..%2fdb.json/recording',
      '/api/sessions/..%2F..%2Fdb.json/recording',
      '/api/sessions/%2e%2e%2f%2e%2e%2fdb.json/recording',
      '/api/sessions/ses_..%2f..%2f..%2fdb.json/recording',
      '/api/sessions/ses_AAAAAAAAAAAAAAAAAAAAAAAA/recording',
      '/api/sessions/ses_%00AAAAAAAAAAAAAAAAAAAAAA/recording',
      '/api/sessions/db.json/recording',
      `/api/sessions/${a.id}/recording/..%2f..%2fdb.json`,
      `/api/sessions/${a.id}/../../db.json`,
      '/api/sessions/../../db.json',
      '/api/sessions/ses_../db.json',
      '/api/sessions/%2e%2e/recording',
    ];
    for (const p of paths) {
      const r = await fx.raw('auditor', p);
      expect([p, r.status]).toEqual([p, 404]);
      expect(r.body).not.toContain('"schemaVersion"');
      expect(r.body).not.toContain(db.slice(0, 40));
    }
  });

  it('a stored path leading out of the sessions folder, or a symlink planted as the file, is refused', async () => {
    const escape = await fx.seed({ who: 'vendor', startMin: 5, minutes: 1 });
    await fx.store.update((db) => {
      db.sessions.find((x) => x.id === escape.id)!.recording!.path = 'db.json';
    });
    expect((await rec('auditor', escape.id)).json.error.code).toBe('recording_missing');
    await fx.store.update((db) => {
      db.sessions.find((x) => x.id === escape.id)!.recording!.path = `sessions/../db.json`;
    });
    expect((await rec('auditor', escape.id)).status).toBe(404);
    await fx.store.update((db) => {
      db.sessions.find((x) => x.id === escape.id)!.recording!.path =
        `sessions/2026/11/23/../../../../db.json/${escape.id}.cast`;
    });
    expect((await rec('auditor', escape.id)).status).toBe(404);

    const linked = await fx.seed({ who: 'vendor', startMin: 6, minutes: 1, cast: null });
    const path = join(fx.dir, 'sessions', '2026', '11', '23', `${linked.id}.cast`);
    await mkdir(dirname(path), { recursive: true });
    await symlink(join(fx.dir, 'db.json'), path);
    await fx.store.update((db) => {
      db.sessions.find((x) => x.id === linked.id)!.recording = {
        path: `sessions/2026/11/23/${linked.id}.cast`,
        sha256: 'x',
      };
    });
    const r = await rec('auditor', linked.id);
    expect(r.status).toBe(404);
    expect(r.text).not.toContain('schemaVersion');
  });

  it('integrity: the sealed hash against the file now (verified, then mismatch once altered; unsealed while live)', async () => {
    const integrity = async (id: string) =>
      (await fx.api('auditor', 'GET', `/api/sessions/${id}/recording/integrity`)).json;
    expect(await integrity(a.id)).toMatchObject({
      state: 'verified',
      sealedSha256: a.recording!.sha256,
      actualSha256: a.recording!.sha256,
      actualBytes: a.recording!.bytes,
    });
    expect(await integrity(d.id)).toMatchObject({ state: 'unsealed', sealedSha256: null });
    const tampered = await fx.seed({
      who: 'vendor2',
      targetId: 'line1-ws',
      startMin: 7,
      minutes: 1,
      commands: [{ text: 'id', atSec: 1 }],
    });
    expect((await integrity(tampered.id)).state).toBe('verified');
    await appendFile(join(fx.dir, tampered.recording!.path), '[9, "o", "added later"]\n');
    const after = await integrity(tampered.id);
    expect(after.state).toBe('mismatch');
    expect(after.actualSha256).not.toBe(tampered.recording!.sha256);
    await writeFile(join(fx.dir, tampered.recording!.path), '');
    expect((await integrity(tampered.id)).state).toBe('mismatch');
    expect((await fx.api('vendor2', 'GET', `/api/sessions/${tampered.id}/recording/integrity`)).status).toBe(403);
  });
});

describe('terminate', () => {
  const terminate = (who: Who, id: string, body: unknown = { reason: 'Unplanned change to the S7 program' }) =>
    fx.api(who, 'POST', `/api/sessions/${id}/terminate`, { body });

  it('refuses vendors and auditors, asks supervisors for a fresh step-up and a plain reason, hides other targets', async () => {
    expect((await terminate('vendor', d.id)).json.error.code).toBe('forbidden');
    expect((await terminate('auditor', d.id)).json.error.code).toBe('forbidden');
    expect((await terminate('sup', d.id)).json.error.code).toBe('stepup_required');
    await fx.stepUp('sup');
    await fx.stepUp('supLine1');
    for (const body of [{}, { reason: '   ' }, { reason: 'x'.repeat(501) }, { reason: 5 }]) {
      const r = await terminate('sup', d.id, body);
      expect([r.status, r.json.error.code]).toEqual([400, 'reason_required']);
    }
    const escape = await terminate('sup', d.id, { reason: 'bye\u001b]52;c;ZXZpbA==\u0007' });
    expect([escape.status, escape.json.error.code]).toEqual([400, 'invalid_reason']);
    expect((await terminate('sup', d.id, { reason: 'ok', extra: 1 })).json.error.code).toBe('unknown_field');
    expect((await terminate('supLine1', d.id)).status).toBe(404);
    expect((await terminate('sup', a.id)).json.error.code).toBe('not_live');
    expect(closes).toEqual([]);
    const refusals = (await fx.auditRecords()).filter(
      (r) => r.type === 'access.denied' && r.data?.action === 'session.terminate',
    );
    expect(refusals.map((r) => r.data?.code)).toEqual(
      expect.arrayContaining(['reason_required', 'invalid_reason', 'not_found', 'not_live']),
    );
  });

  it('closes the live session through the registry with the reason, audited with the supervisor as actor', async () => {
    await fx.stepUp('sup');
    const r = await terminate('sup', d.id);
    expect(r.status, r.text).toBe(200);
    expect(r.json.closed).toBe(true);
    expect(r.json.session).toMatchObject({ id: d.id, live: false, endReason: 'terminated' });
    expect(closes).toEqual([
      { reason: 'terminated', message: 'Bob terminated this session: Unplanned change to the S7 program' },
    ]);
    const t = (await fx.auditRecords()).filter((x) => x.type === 'session.terminated');
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({
      actor: { kind: 'user', id: 'usr_sup' },
      subject: { sessionId: d.id, userId: 'usr_vendor', targetId: 'eng-ws-01', grantId: d.grantId },
      data: { reason: 'Unplanned change to the S7 program' },
    });
    expect((await terminate('sup', d.id)).json.error.code).toBe('not_live');
    expect(await list('auditor', '?live=true')).toEqual([]);
  });
});

describe('audit trail', () => {
  it('auditors and admins read it newest first, filtered and paged; reading is itself audited', async () => {
    for (const who of ['vendor', 'sup'] as const) expect((await fx.api(who, 'GET', '/api/audit')).status).toBe(403);
    const all = await fx.api('auditor', 'GET', '/api/audit?limit=500');
    expect(all.status).toBe(200);
    const seqs = all.json.records.map((r: { seq: number }) => r.seq);
    expect(seqs).toEqual([...seqs].sort((x: number, y: number) => y - x));

    const term = await fx.api('auditor', 'GET', '/api/audit?type=session.terminated');
    expect(term.json.records.map((r: { type: string }) => r.type)).toEqual(['session.terminated']);
    const fam = await fx.api('auditor', 'GET', '/api/audit?type=recording.*,session.terminated');
    expect(new Set(fam.json.records.map((r: { type: string }) => r.type))).toEqual(
      new Set(['recording.viewed', 'session.terminated']),
    );
    const byActor = await fx.api('auditor', 'GET', '/api/audit?actor=bob&type=session.terminated');
    expect(byActor.json.records).toHaveLength(1);
    expect(
      (await fx.api('auditor', 'GET', '/api/audit?actor=usr_sup')).json.records.every(
        (r: { actor: { id: string } }) => r.actor.id === 'usr_sup',
      ),
    ).toBe(true);
    const bySession = await fx.api('admin', 'GET', `/api/audit?session=${a.id}&type=recording.viewed`);
    expect(bySession.json.records).toHaveLength(3);
    const byTarget = await fx.api('auditor', 'GET', '/api/audit?target=line1-ws');
    expect(
      byTarget.json.records.every((r: { subject?: { targetId?: string } }) => r.subject?.targetId === 'line1-ws'),
    ).toBe(true);
    expect((await fx.api('auditor', 'GET', '/api/audit?to=2026-11-23')).json.records).toEqual([]);

    // Paging: two records a page, following nextBefore, reaches every recording.viewed once.
    const seen: number[] = [];
    let before = '';
    for (let i = 0; i < 5; i++) {
      const p = await fx.api('auditor', 'GET', `/api/audit?type=recording.viewed&limit=2${before}`);
      seen.push(...p.json.records.map((r: { seq: number }) => r.seq));
      if (p.json.nextBefore === null) break;
      before = `&before=${p.json.nextBefore}`;
    }
    const viewedSeqs = (await fx.auditRecords())
      .filter((r) => r.type === 'recording.viewed')
      .map((r) => r.seq)
      .reverse();
    expect(seen).toEqual(viewedSeqs);

    for (const q of ['?type=nonsense.event', '?type=<script>', '?limit=9999', '?before=0', '?foo=1'])
      expect([q, (await fx.api('auditor', 'GET', `/api/audit${q}`)).status]).toEqual([q, 400]);
    const views = (await fx.auditRecords()).filter((r) => r.type === 'audit.viewed');
    expect(views.length).toBeGreaterThan(0);
    expect(views[0]!.actor.id).toBe('usr_auditor');
  });

  it('verify reports the chain intact with the last signed checkpoint, then the first bad record after tampering', async () => {
    const ok = await fx.api('auditor', 'GET', '/api/audit/verify');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ ok: true, failure: null, keyId: fx.audit.keyId });
    expect(ok.json.records).toBeGreaterThan(20);
    expect(ok.json.lastCheckpoint).toMatchObject({ keyId: fx.audit.keyId });
    expect(ok.json.lastCheckpoint.upToSeq).toBe(ok.json.lastCheckpoint.seq - 1);
    const cp = (await fx.auditRecords()).find((r) => r.seq === ok.json.lastCheckpoint.seq)!;
    expect(cp.type).toBe('audit.checkpoint');
    expect((await fx.api('sup', 'GET', '/api/audit/verify')).status).toBe(403);

    // Rewrite one early record in place (same length): the chain breaks there.
    const target = (await fx.storage.auditLines()).find((l) => l.includes('"type":"recording.viewed"'))!;
    await fx.storage.tamperAudit(target, target.replace('usr_auditor', 'usr_auditos'));
    const bad = await fx.api('admin', 'GET', '/api/audit/verify');
    expect(bad.json.ok).toBe(false);
    expect(bad.json.failure.seq).toBe(JSON.parse(target).seq);
    expect(bad.json.lastCheckpoint).toBeNull();
    const verified = (await fx.auditRecords()).filter((r) => r.type === 'audit.verified');
    expect(verified.map((r) => r.data?.ok)).toEqual([true, false]);
  });
});
