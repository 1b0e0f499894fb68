// The SSH front with real peers (OpenSSH ssh → gateway → OpenSSH sshd): shell, exec, exit codes, refusals with their one line.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

const run = promisify(execFile);
let h: SshGateway;
beforeAll(async () => {
  h = await startSshGateway();
}, 60_000);
afterAll(async () => {
  await h?.close();
});
/** Each test states the grants it needs. */
beforeEach(async () => {
  await h.gw.store.update((d) => void d.requests.splice(0));
});

const refusedLines = (stderr: string) => stderr.split(/\r?\n/).filter((l) => l.startsWith('Gatehouse: '));
const lastRefusal = async () => (await h.audit()).filter((a) => a.type === 'session.refused').at(-1);

describe('ssh front: sessions (OpenSSH client, real sshd target)', () => {
  it('runs an exec command and relays its output and exit code, after key + "Verification code:"', async () => {
    await h.grant();
    const r = await h.ssh(TARGET, { command: 'echo hello; exit 3' });
    expect(r.stdout).toBe('hello\n');
    expect(r.code).toBe(3);
    expect((await h.askpassPrompts()).at(-1)).toMatch(/Verification code: $/);
  });

  it('runs a shell with a pty (-tt) and relays stdin', async () => {
    await h.grant();
    const r = await h.ssh(TARGET, { options: ['-tt'], input: 'echo hi-from-$((40+2)); exit\n' });
    expect(r.stdout).toContain('hi-from-42');
    expect(r.code).toBe(0);
  });

  it('relays stdin EOF and stderr of exec commands', async () => {
    await h.grant();
    const r = await h.ssh(TARGET, { command: 'cat; echo oops >&2', input: 'piped\n' });
    expect(r.stdout).toBe('piped\n');
    expect(r.stderr).toContain('oops');
    expect(r.code).toBe(0);
  });
});

describe('ssh front: refusals say why in one line and are audited', () => {
  const requestUrl = () => `${h.url}/requests/new?target=${TARGET}`;

  it('no grant', async () => {
    const r = await h.ssh(TARGET, { command: 'true' });
    expect(r.code).toBe(255);
    expect(refusedLines(r.stderr)).toEqual([
      `Gatehouse: no approved access to ${TARGET}. Request access at ${requestUrl()}`,
    ]);
    expect(await lastRefusal()).toMatchObject({ data: { code: 'no_grant' }, subject: { targetId: TARGET } });
  });

  it('an unknown target reads exactly like no grant', async () => {
    const r = await h.ssh('no-such-target', { command: 'true' });
    expect(refusedLines(r.stderr)).toEqual([
      `Gatehouse: no approved access to no-such-target. Request access at ${h.url}/requests/new?target=no-such-target`,
    ]);
  });

  it('window not started', async () => {
    const now = h.clock.now();
    await h.grant({ startsAt: new Date(now + 3600_000).toISOString(), endsAt: new Date(now + 7200_000).toISOString() });
    const r = await h.ssh(TARGET, { command: 'true' });
    expect(refusedLines(r.stderr)[0]).toMatch(/^Gatehouse: your access to eng-ws-01 .* starts at .*Request access at /);
    expect(await lastRefusal()).toMatchObject({ data: { code: 'window_not_started' } });
  });

  it('expired', async () => {
    const now = h.clock.now();
    await h.grant({ startsAt: new Date(now - 7200_000).toISOString(), endsAt: new Date(now - 3600_000).toISOString() });
    const r = await h.ssh(TARGET, { command: 'true' });
    expect(refusedLines(r.stderr)[0]).toMatch(/^Gatehouse: your access to eng-ws-01 .* ended at /);
    expect(await lastRefusal()).toMatchObject({ data: { code: 'grant_expired' } });
  });

  it('revoked', async () => {
    await h.grant({ state: 'revoked', closedReason: 'work done\x1b[2J' });
    const r = await h.ssh(TARGET, { command: 'true' });
    // The supervisor's text reaches the vendor's terminal without its control characters.
    expect(refusedLines(r.stderr)[0]).toMatch(
      /^Gatehouse: your access to eng-ws-01 .* has been revoked: work done \[2J\. Request/,
    );
    expect(await lastRefusal()).toMatchObject({ data: { code: 'grant_revoked' } });
  });

  it('unknown key', async () => {
    await h.grant();
    const other = join(h.dir.path, 'stranger_ed25519');
    await run('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const out = (await h.ssh(TARGET, { command: 'true', identity: other })).stderr;
    const [line] = refusedLines(out);
    expect(line).toMatch(
      /^Gatehouse: your SSH key SHA256:\S+ is not registered; add it at (\S+) and request access at \S+$/,
    );
    expect(line).toContain(` add it at ${h.url}/keys and request access at ${h.url}/requests/new`);
    // No key offered at all (keyboard-interactive only): the same page is named.
    const none = (await h.ssh(TARGET, { command: 'true', options: ['-o', 'PubkeyAuthentication=no'] })).stderr;
    expect(refusedLines(none)[0]).toBe(
      `Gatehouse: no registered SSH key was offered; add yours at ${h.url}/keys and request access at ${h.url}/requests/new?target=${TARGET}`,
    );
    expect(await lastRefusal()).toMatchObject({ data: { code: 'unknown_key' }, actor: { kind: 'anonymous' } });
  });

  it('wrong code, and a replayed code', async () => {
    await h.grant();
    const wrong = await h.ssh(TARGET, { command: 'true', code: '000000' });
    expect(refusedLines(wrong.stderr)).toEqual(['Gatehouse: wrong verification code']);
    const code = h.freshCode();
    expect((await h.ssh(TARGET, { command: 'echo once', code })).stdout).toBe('once\n');
    const replay = await h.ssh(TARGET, { command: 'echo twice', code });
    expect(replay.stdout).toBe('');
    expect(refusedLines(replay.stderr)).toEqual([
      'Gatehouse: this verification code was already used; wait for the next one',
    ]);
    expect(await lastRefusal()).toMatchObject({ data: { code: 'totp_replayed' } });
  });
});
