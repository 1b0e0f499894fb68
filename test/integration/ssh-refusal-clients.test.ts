// Refusals after the code (no grant, target unreachable, host-key mismatch) reach clients without a terminal:
// OpenSSH driven by SSH_ASKPASS, and PuTTY's plink. Each prints the gateway's one line.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runPlink } from '../helpers/plink.js';
import { freePort } from '../helpers/ports.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';

let h: SshGateway;
let realSsh: { port: number; hostKeySha256: string };
beforeAll(async () => {
  h = await startSshGateway();
  const t = h.gw.config.targets[0]!.ssh!;
  realSsh = { port: t.port, hostKeySha256: t.hostKeySha256 };
}, 60_000);
afterAll(async () => h?.close());
beforeEach(async () => {
  await h.gw.store.update((d) => void d.requests.splice(0));
  Object.assign(h.gw.config.targets[0]!.ssh!, realSsh);
});

const cases: Array<{ name: string; line: RegExp; setup: () => Promise<void> }> = [
  {
    name: 'no grant',
    line: new RegExp(`Gatehouse: no approved access to ${TARGET}\\. Request access at \\S+`),
    setup: async () => undefined,
  },
  {
    name: 'target unreachable',
    line: new RegExp(`Gatehouse: ${TARGET} cannot be reached right now; try again later`),
    setup: async () => {
      await h.grant();
      h.gw.config.targets[0]!.ssh!.port = await freePort();
    },
  },
  {
    name: 'host-key mismatch',
    line: new RegExp(`Gatehouse: the host key of ${TARGET} does not match the pinned one`),
    setup: async () => {
      await h.grant();
      h.gw.config.targets[0]!.ssh!.hostKeySha256 = 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU';
    },
  },
];

describe('OpenSSH without a terminal (SSH_ASKPASS_REQUIRE=force)', () => {
  for (const c of cases)
    it(`prints the refusal for ${c.name}`, async () => {
      await c.setup();
      const r = await h.ssh(TARGET, { command: 'echo should-not-run' });
      expect(r.stdout).toBe('');
      expect(r.code).not.toBe(0);
      // The disconnect's own description carries the line too (not an empty "11:").
      const disconnect = r.stderr.split(/\r?\n/).find((l) => l.startsWith('Received disconnect from'));
      expect(disconnect).toMatch(c.line);
      expect(r.stderr.split(/\r?\n/).filter((l) => c.line.test(l)).length).toBeGreaterThanOrEqual(1);
    });
});

describe('PuTTY plink', () => {
  for (const c of cases)
    it(`prints the refusal for ${c.name}`, async () => {
      await c.setup();
      const r = await runPlink(h, TARGET, 'echo should-not-run');
      expect(r.stdout).not.toContain('should-not-run');
      // PuTTY prints the disconnect's description whole, in quotes, on one line.
      const quoted = r.stderr.split(/\r?\n/).find((l) => l.startsWith('"Gatehouse: '));
      expect(quoted).toMatch(c.line);
      expect(r.stderr).toContain('Remote side sent disconnect message');
    });
});
