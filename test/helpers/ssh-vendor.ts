// An ssh2 Client as the vendor, for what OpenSSH's ssh cannot script: resizes, signals, paced typing, a reader that stalls.
import { readFileSync } from 'node:fs';
import { Client, type ClientChannel } from 'ssh2';
import type { SshGateway } from './ssh-gateway.js';

/** Connects to the gateway as `login` with the vendor's key and a fresh TOTP code. */
export function vendorClient(h: SshGateway, login: string): Promise<Client> {
  const code = h.freshCode();
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => finish(prompts.map(() => code)));
    c.connect({
      host: '127.0.0.1',
      port: h.port,
      username: login,
      privateKey: readFileSync(h.vendor.keyPath),
      tryKeyboard: true,
      readyTimeout: 15_000,
      hostVerifier: () => true,
    });
  });
}

export function openShell(c: Client, window = { rows: 24, cols: 80, term: 'xterm' }): Promise<ClientChannel> {
  return new Promise((resolve, reject) => c.shell(window, (err, ch) => (err ? reject(err) : resolve(ch))));
}

export function openExec(c: Client, cmd: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => c.exec(cmd, (err, ch) => (err ? reject(err) : resolve(ch))));
}

/** Collects a channel's output; `until(re)` waits for it to match. */
export function collect(ch: ClientChannel) {
  let text = '';
  ch.on('data', (b: Buffer) => (text += b.toString('utf8')));
  ch.stderr.on('data', (b: Buffer) => (text += b.toString('utf8')));
  return {
    get text() {
      return text;
    },
    async until(re: RegExp, ms = 10_000): Promise<string> {
      const end = Date.now() + ms;
      while (!re.test(text)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(text.slice(-500))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return text;
    },
  };
}
