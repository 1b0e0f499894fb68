// Who ended a session, read back from the audit trail: the terminate or revoke record that belongs to it, not another
// session's, and nothing for sessions that ended by themselves.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_FILE } from '../../gateway/audit/verify-file.js';
import type { SessionRecord } from '../../gateway/core/model.js';
import { findClosedBy, findLateEnd } from '../../gateway/http/routes/session-closer.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

let dir: TempDir;
const sam = { kind: 'user', id: 'usr_s', name: 'Sam Supervisor' };
const line = (seq: number, at: string, type: string, subject: object, data: object, actor: object = sam) =>
  JSON.stringify({ seq, at, type, actor, subject, data, prev: '0'.repeat(64), hash: '1'.repeat(64) });
const session = (over: Partial<SessionRecord>): SessionRecord => ({
  id: 'ses_a',
  grantId: 'grt_a',
  requestId: 'req_a',
  userId: 'usr_v',
  targetId: 'eng-ws-01',
  protocol: 'ssh',
  via: 'ssh',
  startedAt: '2026-12-06T08:00:00.000Z',
  endedAt: '2026-12-06T08:10:00.000Z',
  ...over,
});

beforeAll(async () => {
  dir = await tempDir('gh-closer-');
  await writeFile(
    join(dir.path, LOG_FILE),
    [
      line(1, '2026-12-06T07:00:00.000Z', 'session.terminated', { sessionId: 'ses_old' }, { reason: 'before' }),
      line(2, '2026-12-06T08:05:00.000Z', 'session.terminated', { sessionId: 'ses_b' }, { reason: 'not this one' }),
      '{"seq":3,"at":"2026-12-06T08:06:00.000Z","type":"session.terminated", torn',
      line(4, '2026-12-06T08:09:00.000Z', 'session.terminated', { sessionId: 'ses_a' }, { reason: 'line 2 restarts' }),
      line(
        5,
        '2026-12-06T08:09:30.000Z',
        'grant.revoked',
        { grantId: 'grt_c', requestId: 'req_c' },
        { reason: 'work done' },
      ),
      line(6, '2026-12-06T08:11:00.000Z', 'session.ended', { sessionId: 'ses_a' }, { reason: 'terminated' }),
      line(
        7,
        '2026-12-06T08:12:00.000Z',
        'session.ended_late',
        { sessionId: 'ses_d' },
        {
          reason: 'gateway_fenced',
          endedAt: '2026-12-06T08:09:50.000Z',
          node: 'gw-a',
          recordedEnd: { at: '2026-12-06T08:10:05.000Z', reason: 'gateway_crashed' },
        },
        { kind: 'user', id: 'usr_v', name: 'Vera Vendor' },
      ),
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await dir?.remove();
});

describe('who ended a session', () => {
  it('finds the terminate record of this session, with the person and the reason', async () => {
    expect(await findClosedBy(dir.path, session({ endReason: 'terminated' }))).toEqual({
      action: 'terminated',
      by: 'Sam Supervisor',
      reason: 'line 2 restarts',
      at: '2026-12-06T08:09:00.000Z',
    });
  });

  it('finds the revocation of the session’s grant', async () => {
    const s = session({ id: 'ses_c', grantId: 'grt_c', endReason: 'revoked' });
    expect(await findClosedBy(dir.path, s)).toMatchObject({
      action: 'revoked',
      by: 'Sam Supervisor',
      reason: 'work done',
    });
  });

  it('answers null for sessions that ended by themselves, records from before the session, or no log', async () => {
    expect(await findClosedBy(dir.path, session({ endReason: 'client_closed' }))).toBeNull();
    // ses_old's record predates this session's start: the scan stops there.
    expect(await findClosedBy(dir.path, session({ id: 'ses_old', endReason: 'terminated' }))).toBeNull();
    expect(await findClosedBy(join(dir.path, 'nowhere'), session({ endReason: 'terminated' }))).toBeNull();
  });

  it('takes a terminate from the session’s record when it carries one, without the log', async () => {
    const t = {
      at: '2026-12-06T08:09:10.000Z',
      by: 'usr_s2',
      byName: 'Sue Supervisor',
      reason: 'cut off',
      message: 'x',
    };
    const s = session({ endReason: 'terminated', terminateRequested: t });
    expect(await findClosedBy(join(dir.path, 'nowhere'), s)).toEqual({
      action: 'terminated',
      by: 'Sue Supervisor',
      reason: 'cut off',
      at: '2026-12-06T08:09:10.000Z',
    });
  });

  it('finds the holder’s late end of a session the log had ended as crashed, and nothing for others', async () => {
    expect(await findLateEnd(dir.path, session({ id: 'ses_d', endReason: 'gateway_crashed' }))).toEqual({
      at: '2026-12-06T08:09:50.000Z',
      reason: 'gateway_fenced',
      node: 'gw-a',
    });
    expect(await findLateEnd(dir.path, session({ id: 'ses_a', endReason: 'gateway_crashed' }))).toBeNull();
    expect(await findLateEnd(dir.path, session({ id: 'ses_d', endReason: 'client_closed' }))).toBeNull();
  });
});
