// A storage folder for the evidence tests, written by the real Store and AuditLog: a day before the period,
// the period (a session with hostile commands, an alert, a block, a revoke), and a day after.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { AuditLog } from '../../gateway/audit-log.js';
import { ManualClock } from '../../gateway/clock.js';
import { CommandLog } from '../../gateway/command-log.js';
import { type Config, parseConfig } from '../../gateway/config.js';
import type { AuditInput } from '../../gateway/core/audit.js';
import type { AccessRequest, CommandRecord, SessionRecord, User } from '../../gateway/core/model.js';
import { resolveRecording } from '../../gateway/recording/files.js';
import { Store } from '../../gateway/store.js';
import { testConfigInput } from '../helpers/config.js';

export const PERIOD = { from: '2026-11-23', to: '2026-11-24' };
export const SESSION_ID = 'ses_evidenceFixture01';
export const HOSTILE_TARGET = 'WS <script>alert(1)</script>';
export const FORMULA_COMMAND = '=HYPERLINK("http://evil.example/x","open me")';
export const MARKUP_COMMAND = 'echo "<img src=x onerror=alert(1)>" \u001b]52;c;ZXZpbA==\u0007';
export const FORMULA_NAME = "=cmd|' /C calc'!A0";

export interface EvidenceFixture {
  dir: string;
  config: Config;
  recordingPath: string;
}

const vendor: User = {
  id: 'usr_vendor',
  issuer: 'https://idp.example',
  subject: 'vendor-1',
  name: FORMULA_NAME,
  email: 'vendor@acme.example',
  org: 'Acme, "Automation" Inc.',
  groups: ['vendors'],
  roles: ['vendor'],
  createdAt: '2026-11-01T00:00:00.000Z',
};
const supervisor: User = {
  ...vendor,
  id: 'usr_sup',
  subject: 'sup-1',
  name: 'Bob Supervisor',
  email: 'bob@plant.example',
  org: 'Plant 3',
  groups: ['ot-supervisors'],
  roles: ['supervisor'],
};

export function fixtureConfig(dir: string): Config {
  const input = testConfigInput(dir);
  const t = (input.targets as Array<Record<string, unknown>>)[0]!;
  input.targets = [{ ...t, name: HOSTILE_TARGET, zone: 'Cell 2 / Level 2 <b>' }];
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

/**
 * `duringSession` adds audit records inside the vendor's session, after its commands (given the session's
 * subject and the vendor as actor): what a conduit audits there.
 */
export async function buildEvidenceStorage(
  dir: string,
  duringSession: (subject: Record<string, string>, actor: AuditInput['actor']) => AuditInput[] = () => [],
): Promise<EvidenceFixture> {
  const clock = new ManualClock('2026-11-22T10:00:00.000Z');
  const store = await Store.open({ dir });
  const audit = await AuditLog.open({ dir, clock, checkpointEvery: 4, checkpointIntervalMs: 0 });
  await store.attachAudit(audit);
  const actor = { kind: 'user' as const, id: vendor.id, name: vendor.name, email: vendor.email };
  const subject = {
    sessionId: SESSION_ID,
    targetId: 'eng-ws-01',
    userId: vendor.id,
    requestId: 'req_fixture1',
    grantId: 'grt_fixture1',
  };
  const append = async (input: AuditInput, stepMs = 60_000) => {
    clock.advance(stepMs);
    await audit.append(input);
  };

  // The day before: logins.
  for (let i = 0; i < 3; i++) await append({ type: 'auth.login', actor, data: { n: i } });

  clock.set('2026-11-23T09:00:00.000Z');
  const request: AccessRequest = {
    id: 'req_fixture1',
    userId: vendor.id,
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    startsAt: '2026-11-23T09:00:00.000Z',
    endsAt: '2026-11-23T11:00:00.000Z',
    durationMinutes: 120,
    purpose: 'Update PLC firmware, see ticket\n"=1+1"',
    ticket: '@CHG-42',
    emergency: false,
    state: 'revoked',
    approvalsRequired: 1,
    decisions: [{ by: supervisor.id, at: '2026-11-23T09:02:00.000Z', verdict: 'approve' }],
    createdAt: '2026-11-23T09:01:00.000Z',
    updatedAt: '2026-11-23T09:20:00.000Z',
    grantId: 'grt_fixture1',
    closedReason: 'suspicious command',
  };
  const startedAt = Date.parse('2026-11-23T09:05:00.000Z');
  const recordingPath = resolveRecording(dir, SESSION_ID, startedAt);
  const cast = [
    JSON.stringify({ version: 2, width: 80, height: 24, timestamp: startedAt / 1000, title: HOSTILE_TARGET }),
    JSON.stringify([0.1, 'o', '$ ']),
    JSON.stringify([1.0, 'o', `${MARKUP_COMMAND}\r\n`]),
    '',
  ].join('\n');
  await mkdir(dirname(recordingPath), { recursive: true });
  await writeFile(recordingPath, cast);
  const sha256 = createHash('sha256').update(cast).digest('hex');
  const session: SessionRecord = {
    id: SESSION_ID,
    grantId: 'grt_fixture1',
    requestId: 'req_fixture1',
    userId: vendor.id,
    targetId: 'eng-ws-01',
    protocol: 'ssh',
    via: 'ssh',
    startedAt: '2026-11-23T09:05:00.000Z',
    endedAt: '2026-11-23T09:20:00.000Z',
    endReason: 'revoked',
    recording: { path: relative(dir, recordingPath), sha256, bytes: Buffer.byteLength(cast) },
    sourceIp: '192.0.2.7',
  };
  const commands: CommandRecord[] = [
    { id: 'cmd_1', sessionId: SESSION_ID, at: '2026-11-23T09:06:00.000Z', text: 'ls -la /opt/plc', verdict: 'allowed' },
    {
      id: 'cmd_2',
      sessionId: SESSION_ID,
      at: '2026-11-23T09:07:00.000Z',
      text: FORMULA_COMMAND,
      verdict: 'alerted',
      rule: 'HYPERLINK',
    },
    {
      id: 'cmd_3',
      sessionId: SESSION_ID,
      at: '2026-11-23T09:08:00.000Z',
      text: MARKUP_COMMAND,
      verdict: 'blocked',
      rule: 'img',
    },
  ];
  await store.update((d) => {
    d.users.push(vendor, supervisor);
    d.requests.push(request);
    d.sessions.push(session);
  });
  const commandLog = await CommandLog.open({ store });
  for (const c of commands) await commandLog.append(c);
  await commandLog.close();
  const period: AuditInput[] = [
    {
      type: 'request.created',
      actor,
      subject: { requestId: request.id, targetId: 'eng-ws-01' },
      data: { purpose: request.purpose },
    },
    {
      type: 'request.approved',
      actor: { kind: 'user', id: supervisor.id, name: supervisor.name },
      subject: { requestId: request.id, grantId: 'grt_fixture1' },
    },
    { type: 'session.started', actor, subject, data: { via: 'ssh' } },
    {
      type: 'command.executed',
      actor,
      subject: { ...subject, commandId: 'cmd_1' },
      data: { text: commands[0]!.text, verdict: 'allowed' },
    },
    {
      type: 'command.alerted',
      actor,
      subject: { ...subject, commandId: 'cmd_2' },
      data: { text: FORMULA_COMMAND, verdict: 'alerted', rule: 'HYPERLINK', reason: 'links' },
    },
    {
      type: 'command.blocked',
      actor,
      subject: { ...subject, commandId: 'cmd_3' },
      data: { text: MARKUP_COMMAND, verdict: 'blocked', rule: 'img', reason: '<b>markup</b>' },
    },
    ...duringSession(subject, actor),
    {
      type: 'file.transferred',
      actor,
      subject,
      data: {
        name: '/tmp/<x>.bin',
        direction: 'upload',
        size: 3,
        sha256: 'ab'.repeat(32),
        sequential: true,
        closed: true,
      },
    },
    {
      type: 'clipboard.transferred',
      actor,
      subject,
      data: { direction: 'download', mimetype: 'text/<i>plain</i>', size: 9, sha256: 'cd'.repeat(32), via: 'rdp' },
    },
    {
      type: 'grant.revoked',
      actor: { kind: 'user', id: supervisor.id, name: supervisor.name },
      subject: { requestId: request.id, grantId: 'grt_fixture1' },
      data: { reason: 'suspicious command' },
    },
    { type: 'recording.sealed', actor, subject, data: { sha256, bytes: session.recording!.bytes } },
    { type: 'session.ended', actor, subject, data: { reason: 'revoked' } },
  ];
  for (const input of period) await append(input);

  clock.set('2026-11-24T08:00:00.000Z');
  for (let i = 0; i < 2; i++) await append({ type: 'auth.login', actor, data: { n: 10 + i } });
  await audit.close();
  await store.close();
  return { dir, config: fixtureConfig(dir), recordingPath };
}

/** The audit log's lines, for comparing with what a pack holds. */
export const logPath = (dir: string) => join(dir, 'audit.jsonl');
