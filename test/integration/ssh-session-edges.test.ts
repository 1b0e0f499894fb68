// Sessions that end before they begin: no room for the recording (fail closed, said as recording_failed), and a
// vendor who hangs up while the gateway dials the target (audited as refused, never session.started).
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuditLine, type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let h: SshGateway;
beforeAll(async () => {
  h = await startSshGateway();
}, 60_000);
afterAll(async () => h?.close());
beforeEach(async () => {
  await h.gw.store.update((d) => void d.requests.splice(0));
});

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('no room for the recording', () => {
  it('refuses the session, tells the vendor, and stores it as recording_failed (not client_closed)', async () => {
    const g = await h.grant();
    const sessions = join(h.gw.storageDir, 'sessions');
    await mkdir(sessions, { recursive: true });
    await rename(sessions, `${sessions}.moved`);
    await writeFile(sessions, 'not a folder: no recording can be written under it');
    try {
      const r = await h.ssh(TARGET, { command: 'echo should-not-run' });
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('the session recording failed, so the session is closed');
      const started = await h.waitAudit('session.started', (a) => a.subject?.grantId === g.grantId);
      const id = started.subject?.sessionId;
      const ended = await h.waitAudit('session.ended', (a) => a.subject?.sessionId === id);
      expect(ended.data?.reason).toBe('recording_failed');
      await h.waitAudit('recording.failed', (a) => a.subject?.sessionId === id);
      await until('the stored end', () =>
        h.gw.store.data.sessions.some((s) => s.id === id && s.endReason !== undefined),
      );
      expect(h.gw.store.data.sessions.find((s) => s.id === id)?.endReason).toBe('recording_failed');
    } finally {
      await rm(sessions, { force: true });
      await rename(`${sessions}.moved`, sessions);
    }
  }, 30_000);
});

/** A TCP relay to the target that holds each new connection until `release()`: the gateway's dial hangs there. */
async function heldLink(to: { host: string; port: number }) {
  const waiting: Array<() => void> = [];
  const sockets = new Set<Socket>();
  let dials = 0;
  const server: Server = createServer((client) => {
    dials++;
    sockets.add(client);
    client.on('error', () => undefined);
    client.pause();
    waiting.push(() => {
      const up = createConnection(to);
      sockets.add(up);
      up.on('error', () => undefined);
      client.pipe(up).pipe(client);
      client.resume();
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    dials: () => dials,
    release: () => waiting.splice(0).forEach((go) => go()),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('the vendor hangs up while the target is dialled', () => {
  it('is audited as session.refused client_left; no session is started or stored', async () => {
    const g = await h.grant();
    const ssh = h.gw.config.targets[0]!.ssh!;
    const real = ssh.port;
    const link = await heldLink({ host: '127.0.0.1', port: real });
    ssh.port = link.port;
    const sessionsBefore = h.gw.store.data.sessions.length;
    try {
      const code = h.freshCode();
      const c = new Client();
      c.on('error', () => undefined);
      c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => code)));
      c.connect({
        host: '127.0.0.1',
        port: h.port,
        username: TARGET,
        privateKey: readFileSync(h.vendor.keyPath),
        tryKeyboard: true,
        readyTimeout: 30_000,
        hostVerifier: () => true,
      });
      await until('the gateway dialling the target', () => link.dials() > 0);
      c.destroy();
      await until('the gateway seeing the vendor leave', () => h.gw.ssh!.unauthenticated() === 0);
      link.release();
      const refused = await h.waitAudit('session.refused', (a) => a.data?.code === 'client_left');
      expect(refused.subject).toMatchObject({ targetId: TARGET, userId: h.vendor.me.id });
      const audit = (await h.audit()) as AuditLine[];
      expect(audit.some((a) => a.type === 'session.started' && a.subject?.grantId === g.grantId)).toBe(false);
      expect(h.gw.store.data.sessions.length).toBe(sessionsBefore);
      expect(h.gw.ssh!.sessions()).toHaveLength(0);
    } finally {
      ssh.port = real;
      await link.close();
    }
  }, 30_000);
});
