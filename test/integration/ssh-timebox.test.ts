// The time box end to end with OpenSSH `ssh`: warnings 5 and 1 minutes before the window ends reach the
// vendor's terminal (session.warned), and at the end the session is closed — idle, and while the target
// streams without end — with the recording sealed and session.ended reason window_ended.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSsh } from '../helpers/openssh-vendor.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let h: SshGateway;
const MIN = 60_000;
const PROMPT = /[#$] $/;

beforeAll(async () => {
  h = await startSshGateway();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

/** Moves the gateway's clock so that `ms` are left until `endsAt`; the scheduler's next sweep (≤ 1 s) sees it. */
const leaveUntil = (endsAt: string, ms: number) => {
  h.clock.offset += Date.parse(endsAt) - ms - h.clock.now();
};

async function sessionOf(grantId: string) {
  const end = Date.now() + 10_000;
  for (;;) {
    const s = h.gw.liveSessions.list().find((x) => x.grantId === grantId);
    if (s) return s.id;
    if (Date.now() > end) throw new Error('no live session');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function expectEnded(sessionId: string) {
  const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === sessionId, 15_000);
  expect(ended.data?.reason).toBe('window_ended');
  const sealed = await h.waitAudit('recording.sealed', (a) => a.subject?.sessionId === sessionId);
  const rec = h.gw.store.data.sessions.find((s) => s.id === sessionId)!;
  expect(rec).toMatchObject({ endReason: 'window_ended', recording: { sha256: sealed.data?.sha256 } });
  expect(h.gw.liveSessions.get(sessionId)).toBeUndefined();
}

describe('time box (OpenSSH ssh → gateway → sshd)', () => {
  it('warns an idle shell at 5 and 1 minutes, then closes it at the window end', async () => {
    const g = await h.grant({ endsAt: new Date(h.clock.now() + 30 * MIN).toISOString() });
    const s = await spawnSsh(h, TARGET, { options: ['-tt'] });
    try {
      await s.until(PROMPT);
      const sessionId = await sessionOf(g.grantId!);
      leaveUntil(g.endsAt, 4.5 * MIN);
      await s.until(/\[gatehouse\] your access to eng-ws-01 ends in 5 minutes \([^)]+\); save your work\./);
      await h.waitAudit('session.warned', (a) => a.subject?.sessionId === sessionId && a.data?.minutesLeft === 5);
      // Still usable after a warning.
      s.write('echo still-$((6*7))\r');
      await s.until(/[\r\n]still-42\r\n/);
      leaveUntil(g.endsAt, 30_000);
      await s.until(/ends in 1 minute \(/);
      const warned = await h.waitAudit(
        'session.warned',
        (a) => a.subject?.sessionId === sessionId && a.data?.minutesLeft === 1,
      );
      expect(warned.data).toMatchObject({ delivered: true, endsAt: g.endsAt });
      leaveUntil(g.endsAt, -1000);
      await s.until(/\[gatehouse\] your access window has ended/);
      expect(await exitWithin(s, 10_000)).not.toBe('still running');
      await expectEnded(sessionId);
      expect(
        (await h.audit())
          .filter((a) => a.type === 'session.warned' && a.subject?.sessionId === sessionId)
          .map((a) => a.data?.minutesLeft),
      ).toEqual([5, 1]);
      // The warnings and the closing notice are in the recording, as the vendor saw them.
      const cast = await readFile(
        join(h.gw.storageDir, h.gw.store.data.sessions.find((x) => x.id === sessionId)!.recording!.path),
        'utf8',
      );
      expect(cast).toMatch(/ends in 5 minutes[\s\S]*ends in 1 minute [\s\S]*your access window has ended/);
    } finally {
      s.kill();
    }
  });

  /** A shell through the gateway whose target prints without end, once the output flows; the window ends in 30 minutes. */
  async function streamingSession() {
    const g = await h.grant({ endsAt: new Date(h.clock.now() + 30 * MIN).toISOString() });
    const s = await spawnSsh(h, TARGET, { options: ['-tt'], tail: true });
    try {
      await s.until(PROMPT);
      const sessionId = await sessionOf(g.grantId!);
      s.write('yes gatehouse-stream\r');
      await s.until(/(gatehouse-stream\r\n){100}/);
      return { g, s, sessionId };
    } catch (err) {
      s.kill();
      throw err;
    }
  }

  /** The ssh client's exit code, or 'still running' after `ms`. */
  const exitWithin = (s: { exited: Promise<unknown> }, ms: number) =>
    Promise.race([s.exited, new Promise((r) => setTimeout(() => r('still running'), ms))]);

  it('closes a session while the target streams output without end', async () => {
    const { g, s, sessionId } = await streamingSession();
    try {
      const streamed = s.received;
      leaveUntil(g.endsAt, -1000);
      // The notice follows the output queued for the vendor: it arrives when they read it within the
      // disconnect grace (a loaded machine may not), so only the end itself is asserted here.
      expect(await exitWithin(s, 15_000)).not.toBe('still running');
      expect(s.received).toBeGreaterThan(streamed);
      await expectEnded(sessionId);
    } finally {
      s.kill();
    }
  });

  it('closes a streaming session whose vendor has stopped reading (a stalled client cannot hold it open)', async () => {
    const { g, s, sessionId } = await streamingSession();
    try {
      s.child.stdout.pause(); // the vendor's terminal stops reading: ssh, then the gateway, fill up
      await new Promise((r) => setTimeout(r, 500));
      leaveUntil(g.endsAt, -1000);
      await expectEnded(sessionId);
      s.child.stdout.resume();
      expect(await exitWithin(s, 15_000)).not.toBe('still running');
    } finally {
      s.kill();
    }
  });
});
