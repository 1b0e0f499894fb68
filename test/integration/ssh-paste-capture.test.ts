// Command capture when the vendor pastes: the whole line must be captured (and judged) however the
// target's per-key echo trails the input — OpenSSH `ssh -tt` into real bash (readline) and into the
// demo's simulated shell, pasted at once, paced, and split after the first key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimulatedTarget, startSimulatedTarget } from '../../gateway/demo/simulated-target.js';
import { type LiveSsh, spawnSsh } from '../helpers/openssh-vendor.js';
import { type LatencyLink, startLatencyLink } from '../helpers/latency-link.js';
import { type SshGateway, startSshGateway, TARGET } from '../helpers/ssh-gateway.js';
import { type Sshd, startSshd } from '../helpers/sshd.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const RULES = {
  mode: 'enforce',
  rules: [{ match: '^\\s*plc\\s+download\\b', action: 'block', reason: 'downloads change the PLC' }],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(25);
  }
}

/** How the vendor's bytes reach ssh: the pastes seen in the field. */
const PASTES: Record<string, (s: LiveSsh, line: string) => Promise<void>> = {
  'at once': async (s, line) => s.write(`${line}\r`),
  'first key, then the rest': async (s, line) => {
    s.write(line[0]!);
    await sleep(5);
    s.write(`${line.slice(1)}\r`);
  },
  'paced (a key every 3 ms)': async (s, line) => {
    for (const ch of `${line}\r`) {
      s.write(ch);
      await sleep(3);
    }
  },
};

interface World {
  h: SshGateway;
  prompt: RegExp;
  /** Output that shows `plc download` ran on the target. */
  ran: RegExp;
}

function suite(name: string, setup: () => Promise<World>, teardown: () => Promise<void>) {
  describe(name, () => {
    let w: World;
    let s: LiveSsh;
    // One vendor session for all cases: a login over the slow link alone takes seconds.
    beforeAll(async () => {
      w = await setup();
      s = await spawnSsh(w.h, TARGET, { options: ['-tt'] });
      await s.until(w.prompt);
    }, 60_000);
    afterAll(async () => {
      s?.write('exit\r');
      if (s) await Promise.race([s.exited, sleep(3000)]);
      s?.kill();
      await teardown();
    });

    for (const [how, paste] of Object.entries(PASTES)) {
      it(`captures a pasted command whole (${how})`, async () => {
        for (let i = 0; i < 3; i++) {
          const before = s.text.length;
          const stored = w.h.gw.commands.records.length;
          const line = `echo pasted-${i}-${how.replace(/\W+/g, '-')}`;
          await paste(s, line);
          await s.until(new RegExp(`[\\r\\n]pasted-${i}-[\\s\\S]*${w.prompt.source}`), { from: before });
          // Any capture of this paste, whole or cut short (a beginning of the line); stores run behind the relay.
          const mine = () =>
            w.h.gw.commands.records.slice(stored).filter((c) => c.text !== '' && line.startsWith(c.text));
          await waitFor(() => mine().length > 0);
          expect(mine().map((c) => c.text)).toEqual([line]);
        }
      });

      it(`enforce mode blocks \`plc download\` pasted ${how}`, async () => {
        for (let i = 0; i < 3; i++) {
          const before = s.text.length;
          await paste(s, 'plc download');
          await s.until(/\[gatehouse\] command blocked: downloads change the PLC/, { from: before });
          // Under load bash 5.2 sometimes keeps a remnant of the line the relay cleared with Ctrl-C and
          // then drops one key: Ctrl-U (twice) and a leading space make this sync line immune to both.
          s.write(`\x15 \x15 echo after-${i}\r`);
          await s.until(new RegExp(`[\\r\\n]after-${i}\\r\\n`), { from: before });
          expect(s.text.slice(before)).not.toMatch(w.ran);
        }
        await w.h.waitAudit('command.blocked', (a) => a.data?.text === 'plc download');
      });
    }
  });
}

let bash: SshGateway | undefined;
suite(
  'real bash behind sshd',
  async () => {
    bash = await startSshGateway({ target: { commands: RULES } });
    await bash.grant();
    return { h: bash, prompt: /[#$] $/, ran: /plc: command not found/ };
  },
  async () => void (await bash?.close()),
);

// A remote site: 150 ms each way between gateway and target, so every echo comes 300 ms after its key.
let slowSshd: Sshd | undefined;
let link: LatencyLink | undefined;
let slow: SshGateway | undefined;
suite(
  'real bash behind a slow link (300 ms round trip)',
  async () => {
    slowSshd = await startSshd();
    link = await startLatencyLink({ host: '127.0.0.1', port: slowSshd.port }, 150);
    slow = await startSshGateway({ sshd: slowSshd, target: { commands: RULES, ssh: { port: link.port } } });
    await slow.grant();
    return { h: slow, prompt: /[#$] $/, ran: /plc: command not found/ };
  },
  async () => {
    await slow?.close();
    await link?.close();
    await slowSshd?.stop();
  },
);

let sim: SimulatedTarget | undefined;
let simDir: TempDir | undefined;
let simGw: SshGateway | undefined;
suite(
  'the demo simulated shell',
  async () => {
    simDir = await tempDir('gh-sim-');
    sim = await startSimulatedTarget({ dir: simDir.path, port: 0 });
    const ssh = {
      port: sim.port,
      username: 'maint',
      hostKeySha256: sim.hostKeySha256,
      credential: { file: sim.clientKeyPath },
    };
    simGw = await startSshGateway({ target: { commands: RULES, ssh } });
    await simGw.grant();
    return { h: simGw, prompt: /maint@plc-ws-sim:~\$ $/, ran: /Downloading to PLC_1/ };
  },
  async () => {
    await simGw?.close();
    await sim?.close();
    await simDir?.remove();
  },
);
