// A GUACAMOLE-PROTOCOL STAND-IN for guacd (guacd itself cannot be installed on these machines). It is not guacd and
// not our code: a small TCP server that speaks guacd's side of the real handshake (select → args → size/audio/
// video/image/timezone/name/connect → ready), records what it was sent, writes the recording where the connect
// arguments say (as guacd does: one mkdir level, O_EXCL), plays scripted display instructions (size/rect/cfill/
// sync) to the owner, to read-only joiners and into the recording, and can misbehave on purpose (drop, stall,
// upstream error, no recording, garbage). Its parser is its own, so a bug in the gateway's cannot hide here.
// The certificate pin is read as FreeRDP 2 reads it (see freerdpPinCheck): a list guacd would hang on hangs here.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/** guacd 1.5/1.6's RDP parameter names, in its order (src/protocols/rdp/settings.c). */
export const RDP_ARGS = [
  'hostname',
  'port',
  'domain',
  'username',
  'password',
  'width',
  'height',
  'dpi',
  'initial-program',
  'color-depth',
  'disable-audio',
  'enable-printing',
  'printer-name',
  'enable-drive',
  'drive-name',
  'drive-path',
  'create-drive-path',
  'disable-download',
  'disable-upload',
  'console',
  'console-audio',
  'server-layout',
  'security',
  'ignore-cert',
  'cert-tofu',
  'cert-fingerprints',
  'disable-auth',
  'remote-app',
  'remote-app-dir',
  'remote-app-args',
  'static-channels',
  'client-name',
  'enable-wallpaper',
  'enable-theming',
  'enable-font-smoothing',
  'enable-full-window-drag',
  'enable-desktop-composition',
  'enable-menu-animations',
  'disable-bitmap-caching',
  'disable-offscreen-caching',
  'disable-glyph-caching',
  'disable-gfx',
  'preconnection-id',
  'preconnection-blob',
  'timezone',
  'enable-sftp',
  'sftp-hostname',
  'sftp-host-key',
  'sftp-port',
  'sftp-timeout',
  'sftp-username',
  'sftp-password',
  'sftp-private-key',
  'sftp-passphrase',
  'sftp-public-key',
  'sftp-directory',
  'sftp-root-directory',
  'sftp-server-alive-interval',
  'sftp-disable-download',
  'sftp-disable-upload',
  'recording-path',
  'recording-name',
  'recording-exclude-output',
  'recording-exclude-mouse',
  'recording-exclude-touch',
  'recording-include-keys',
  'create-recording-path',
  'recording-write-existing',
  'resize-method',
  'enable-audio-input',
  'enable-touch',
  'read-only',
  'gateway-hostname',
  'gateway-port',
  'gateway-domain',
  'gateway-username',
  'gateway-password',
  'load-balance-info',
  'disable-copy',
  'disable-paste',
  'wol-send-packet',
  'wol-mac-addr',
  'wol-broadcast-addr',
  'wol-udp-port',
  'wol-wait-time',
  'force-lossless',
  'normalize-clipboard',
] as const;

export type StandinMode =
  | 'normal' // handshake, recording, initial frame, keep-alives
  | 'drop' // … then the TCP connection is cut without a word
  | 'stall' // … then nothing at all, the socket stays open
  | 'upstream-error' // after ready: guacd's `error` for an unreachable host (519), `disconnect`, close
  | 'no-recording' // like normal, but writes no recording (guacd only logs when it cannot)
  | 'garbage' // after ready: bytes that are no Guacamole instruction
  | 'bye' // after the first frame: `disconnect` alone (the desktop logged off), the socket left open
  | 'stuck' // after ready: keep-alives, never a frame (guacd whose RDP client spins, as FreeRDP 2 on a bad pin list)
  | 'refuse-handshake'; // answers `select` with an `error` (e.g. an unknown protocol)

export interface Ins {
  opcode: string;
  args: string[];
}

export const enc = (...els: Array<string | number>): string =>
  `${els.map((e) => `${[...String(e)].length}.${e}`).join(',')};`;

/** Its own parser: complete instructions from `buf`, codepoint lengths, throws on nonsense. */
function parse(buf: string): { ins: Ins[]; rest: string } {
  const ins: Ins[] = [];
  let pos = 0;
  for (;;) {
    const els: string[] = [];
    let p = pos;
    for (;;) {
      const dot = buf.indexOf('.', p);
      if (dot === -1) return { ins, rest: buf.slice(pos) };
      const n = Number(buf.slice(p, dot));
      if (!Number.isInteger(n) || n < 0) throw new Error(`stand-in: bad length at ${p}`);
      const cps = [...buf.slice(dot + 1)];
      if (cps.length < n + 1) return { ins, rest: buf.slice(pos) };
      const value = cps.slice(0, n).join('');
      const end = dot + 1 + value.length;
      els.push(value);
      const t = buf[end];
      p = end + 1;
      if (t === ';') {
        ins.push({ opcode: els[0]!, args: els.slice(1) });
        pos = p;
        break;
      }
      if (t !== ',') throw new Error('stand-in: bad terminator');
    }
  }
}

/** OpenSSL digest names FreeRDP 2 can compute a certificate fingerprint with (EVP_get_digestbyname). */
const DIGESTS = new Set(['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']);

export type PinCheck = { result: 'accepted' } | { result: 'refused' } | { result: 'hung'; why: string };

/**
 * `cert-fingerprints` as FreeRDP 2 reads it (libfreerdp/crypto/tls.c, is_accepted_fingerprint): entries split on
 * ",", each `<hash name>:<fingerprint>` compared case-insensitively with the certificate's digest. On an entry
 * whose hash name OpenSSL does not know — or with no ":" at all — its loop `continue`s without taking the next
 * entry: it spins forever (FreeRDP 3 fixed that). The stand-in's workstation certificate is known by SHA-256 only,
 * so another known hash never matches.
 */
export function freerdpPinCheck(list: string, certSha256: string): PinCheck {
  for (const entry of list.split(',').filter((e) => e !== '')) {
    const colon = entry.indexOf(':');
    const hash = colon === -1 ? entry : entry.slice(0, colon);
    if (colon === -1 || !DIGESTS.has(hash.toLowerCase()))
      return { result: 'hung', why: `unknown hash "${hash.slice(0, 20)}" in cert-fingerprints` };
    if (hash.toLowerCase() === 'sha256' && entry.slice(colon + 1).toLowerCase() === certSha256.toLowerCase())
      return { result: 'accepted' };
  }
  return { result: 'refused' };
}

/** What guacd 1.6 sends when FreeRDP refuses the certificate (src/protocols/rdp/error.c), status 519. */
export const TLS_FAILED = 'SSL/TLS connection failed (untrusted/self-signed certificate?)';
export const UPSTREAM_NOT_FOUND = 0x0207;

export interface StandinUser {
  /** `rdp`, or the `$id` of the connection joined. */
  select: string;
  handshake: Record<string, string[]>;
  /** connect values by parameter name. */
  params: Record<string, string>;
  /** Instructions received after `ready`. */
  received: Ins[];
  /** Everything sent to this user after `ready`. */
  sent: string[];
  socket: Socket;
  closed: boolean;
}

export interface StandinConnection {
  id: string;
  owner: StandinUser;
  joiners: StandinUser[];
  recordingFile?: string;
  ended: boolean;
  /** What the pin check decided (only when the owner sent `cert-fingerprints`). */
  pin?: PinCheck;
}

export interface StandinOptions {
  /** `nop` to every user this often while nothing else is sent (guacd: 5 s). */
  keepAliveMs?: number;
  /** For mode `drop`: how long after the first frame the connection is cut. */
  dropAfterMs?: number;
  /** The desktop's fill colour (RGB). */
  color?: [number, number, number];
  /**
   * The workstation's certificate (SHA-256, lower-case hex pairs with ":"): a connection whose `cert-fingerprints`
   * does not name it gets guacd's `error` (TLS_FAILED, 519) after `refuseAfterMs` and then silence, as guacd 1.6 does.
   * Without it the list's syntax is still checked (a list FreeRDP 2 hangs on hangs), any well-formed one accepted.
   */
  certSha256?: string;
  /** How long after `ready` guacd reports a refused certificate (guacd: about 0.5 s). */
  refuseAfterMs?: number;
}

export interface GuacdStandin {
  host: string;
  port: number;
  /** What the next connections do. */
  mode: StandinMode;
  /** The workstation's certificate for the next connections (StandinOptions.certSha256): changed = replaced. */
  certSha256: string | undefined;
  /** The parameter names the next connections announce in `args` (default RDP_ARGS; fewer = an older guacd). */
  args: readonly string[];
  connections: StandinConnection[];
  /** Every raw `select` seen (also for refused ones). */
  selects: string[];
  /** Sends `text` (whole instructions) to the owner and joiners of `id` and into its recording, as guacd broadcasts. */
  broadcast(id: string, text: string): void;
  /** A new fill colour for the whole desktop, broadcast as one frame. */
  paint(id: string, rgb: [number, number, number]): void;
  waitFor<T>(what: string, get: () => T | undefined | false, ms?: number): Promise<T>;
  /** Stops accepting connections (guacd down) or starts again on the same port; open connections stay. */
  listening(on: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startGuacdStandin(o: StandinOptions = {}): Promise<GuacdStandin> {
  const connections: StandinConnection[] = [];
  const selects: string[] = [];
  const sockets = new Set<Socket>();
  const keepAliveMs = o.keepAliveMs ?? 500;
  let counter = 0;
  const state = { mode: 'normal' as StandinMode, args: RDP_ARGS as readonly string[], certSha256: o.certSha256 };
  const recordings = new Map<string, number>();

  const frame = (w: number, h: number, rgb: [number, number, number]) =>
    enc('size', 0, w, h) +
    enc('rect', 0, 0, 0, w, h) +
    enc('cfill', 14, 0, rgb[0], rgb[1], rgb[2], 255) +
    enc('sync', Date.now());

  const write = (u: StandinUser, text: string) => {
    if (u.closed || u.socket.destroyed) return;
    u.sent.push(text);
    u.socket.write(text);
  };
  const record = (c: StandinConnection, text: string) => {
    const fd = c.recordingFile ? recordings.get(c.recordingFile) : undefined;
    if (fd !== undefined) writeSync(fd, text);
  };
  const endConnection = (c: StandinConnection) => {
    if (c.ended) return;
    c.ended = true;
    for (const j of c.joiners) {
      write(j, enc('disconnect'));
      j.socket.end();
    }
    const fd = c.recordingFile ? recordings.get(c.recordingFile) : undefined;
    if (fd !== undefined) {
      closeSync(fd);
      recordings.delete(c.recordingFile!);
    }
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const mode = state.mode;
    const announced = state.args;
    const cert = state.certSha256;
    const decoder = new StringDecoder('utf8');
    let buf = '';
    let phase: 'select' | 'handshake' | 'live' = 'select';
    const user: StandinUser = { select: '', handshake: {}, params: {}, received: [], sent: [], socket, closed: false };
    let conn: StandinConnection | undefined;
    let keepAlive: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      user.closed = true;
      clearInterval(keepAlive);
      if (conn && conn.owner === user) endConnection(conn);
    });

    const onInstruction = (i: Ins) => {
      if (phase === 'select') {
        if (i.opcode !== 'select') return void socket.destroy();
        user.select = i.args[0] ?? '';
        selects.push(user.select);
        if (mode === 'refuse-handshake') {
          socket.end(enc('error', 'Unsupported protocol', 0x0100));
          return;
        }
        if (user.select.startsWith('$') && !connections.some((c) => c.id === user.select && !c.ended)) {
          socket.end(enc('error', 'No such connection.', 0x0204));
          return;
        }
        phase = 'handshake';
        socket.write(enc('args', 'VERSION_1_5_0', ...announced));
        return;
      }
      if (phase === 'handshake') {
        user.handshake[i.opcode] = i.args;
        if (i.opcode !== 'connect') return;
        const values = i.args;
        if (values.length !== announced.length + 1) {
          socket.end(
            enc(
              'error',
              `Incorrect number of connection parameters: expected ${announced.length + 1}, got ${values.length}`,
              0x0300,
            ),
          );
          return;
        }
        announced.forEach((name, k) => (user.params[name] = values[k + 1] ?? ''));
        user.params.VERSION = values[0] ?? '';
        phase = 'live';
        const size = user.handshake.size ?? ['1024', '768'];
        const w = Number(user.params.width || size[0]);
        const h = Number(user.params.height || size[1]);
        if (user.select.startsWith('$')) {
          conn = connections.find((c) => c.id === user.select)!;
          conn.joiners.push(user);
          socket.write(enc('ready', conn.id));
          write(user, frame(w, h, o.color ?? [30, 60, 120]));
        } else {
          const id = `$standin-${process.pid}-${++counter}`;
          conn = { id, owner: user, joiners: [], ended: false };
          connections.push(conn);
          socket.write(enc('ready', id));
          // guacd creates the recording in the client thread, before it dials the RDP server.
          const dir = user.params['recording-path'];
          if (dir && mode !== 'no-recording') {
            try {
              if (user.params['create-recording-path'] === 'true') mkdirSync(dir, { mode: 0o750 });
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            }
            const file = join(dir, user.params['recording-name'] || 'recording');
            recordings.set(file, openSync(file, 'wx', 0o640));
            conn.recordingFile = file;
          }
          const fingerprints = user.params['cert-fingerprints'];
          if (fingerprints && user.params['ignore-cert'] !== 'true') {
            const check = freerdpPinCheck(fingerprints, cert ?? '');
            conn.pin = check.result === 'refused' && cert === undefined ? { result: 'accepted' } : check;
          }
          if (conn.pin?.result === 'hung' || mode === 'stuck') {
            // FreeRDP spins inside the TLS handshake: nothing is drawn; guacd's own keep-alives still flow.
            keepAlive = setInterval(() => write(user, enc('nop')), keepAliveMs);
            keepAlive.unref();
            return;
          }
          if (conn.pin?.result === 'refused') {
            const c = conn;
            setTimeout(() => {
              // The specific error, then the generic one guacd sends when the user later times out; here both
              // arrive in one read, so the gateway must keep the first. After that guacd says nothing more.
              const t = enc('error', TLS_FAILED, UPSTREAM_NOT_FOUND) + enc('error', 'Aborted. See logs.', 0x0308);
              record(c, t);
              write(user, t);
            }, o.refuseAfterMs ?? 500).unref();
            return;
          }
          if (mode === 'upstream-error') {
            const t = enc('error', 'Connection failed (server unreachable?)', UPSTREAM_NOT_FOUND) + enc('disconnect');
            record(conn, t);
            write(user, t);
            socket.end();
            return;
          }
          if (mode === 'garbage') {
            // A moment after `ready`, so the handshake itself completes first.
            setTimeout(() => socket.write('\u0000\u0000 this is not guacamole 99999999999999.x;'), 100).unref();
            return;
          }
          const f = frame(w, h, o.color ?? [30, 60, 120]);
          record(conn, f);
          write(user, f);
          if (mode === 'bye') {
            const c = conn;
            setTimeout(() => {
              record(c, enc('disconnect'));
              write(user, enc('disconnect'));
            }, o.dropAfterMs ?? 300).unref();
            return;
          }
          if (mode === 'drop') {
            setTimeout(() => socket.destroy(), o.dropAfterMs ?? 300).unref();
            return;
          }
        }
        if (mode !== 'stall') {
          keepAlive = setInterval(() => write(user, enc('nop')), keepAliveMs);
          keepAlive.unref();
        }
        return;
      }
      user.received.push(i);
      if (i.opcode === 'disconnect') socket.end();
    };

    socket.on('data', (chunk: Buffer) => {
      buf += decoder.write(chunk);
      try {
        const r = parse(buf);
        buf = r.rest;
        for (const i of r.ins) onInstruction(i);
      } catch {
        socket.destroy();
      }
    });
  });

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;

  const standin: GuacdStandin = {
    host: '127.0.0.1',
    port,
    get mode() {
      return state.mode;
    },
    set mode(m: StandinMode) {
      state.mode = m;
    },
    get certSha256() {
      return state.certSha256;
    },
    set certSha256(c: string | undefined) {
      state.certSha256 = c;
    },
    get args() {
      return state.args;
    },
    set args(a: readonly string[]) {
      state.args = a;
    },
    connections,
    selects,
    broadcast(id, text) {
      const c = connections.find((x) => x.id === id);
      if (!c || c.ended) return;
      record(c, text);
      write(c.owner, text);
      for (const j of c.joiners) write(j, text);
    },
    paint(id, rgb) {
      const c = connections.find((x) => x.id === id);
      const size = c?.owner.handshake.size ?? ['1024', '768'];
      const w = Number(c?.owner.params.width || size[0]);
      const h = Number(c?.owner.params.height || size[1]);
      standin.broadcast(
        id,
        enc('rect', 0, 0, 0, w, h) + enc('cfill', 14, 0, rgb[0], rgb[1], rgb[2], 255) + enc('sync', Date.now()),
      );
    },
    async waitFor(what, get, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const v = get();
        if (v !== undefined && v !== false) return v as never;
        if (Date.now() > end) throw new Error(`guacd stand-in: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async listening(on) {
      if (on === server.listening) return;
      if (on) await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      // close() stops accepting at once; its callback would wait for the open connections, which stay.
      else server.close();
    },
    async close() {
      for (const c of connections) endConnection(c);
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return standin;
}
