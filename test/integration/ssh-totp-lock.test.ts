// Native SSH after too many wrong codes: the refusal says when the lock ends on the site's clock (site.timezone),
// and what to do, rather than an ISO timestamp.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOTP_MAX_FAILURES } from '../../gateway/auth/totp.js';
import { formatLocal } from '../../gateway/core/windows.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let h: SshGateway;
beforeAll(async () => {
  h = await startSshGateway();
  await h.grant();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('SSH verification lock', () => {
  it('tells the vendor the end of the lock in site time and what to do', async () => {
    let last = { code: 0 as number | null, stdout: '', stderr: '' };
    for (let i = 0; i < TOTP_MAX_FAILURES; i++) last = await h.ssh(TARGET, { command: 'true', code: '000000' });
    expect(last.code).not.toBe(0);
    const locked = await h.waitAudit('totp.locked');
    const until = String(locked.data?.lockedUntil);
    const local = formatLocal(Date.parse(until), 'Europe/Berlin');
    expect(local).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} Europe\/Berlin$/);
    expect(last.stderr).toContain(`verification is locked until ${local}`);
    expect(last.stderr).toContain('Wait until then and try again with a new code');
    expect(last.stderr).toContain('ask an administrator to reset your authenticator');
    expect(last.stderr).not.toContain(until);
    // While locked even a right code is refused with the same line.
    const again = await h.ssh(TARGET, { command: 'true' });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`verification is locked until ${local}`);
  }, 90_000);
});
