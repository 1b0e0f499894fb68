// guacd over TCP: dial, the Guacamole handshake (select → args → size/audio/video/image/timezone/name/connect →
// ready), then a stream of whole instructions for the relay. Our own small client rather than guacamole-lite's
// GuacdClient, because that one throws parser errors out of its socket handler (a malformed or multi-byte-split
// chunk from guacd would crash the gateway), has no backpressure, and hard-codes protocol 1.1.0.
import { connect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { encodeInstruction, type Instruction, parseInstructions } from '../guac/wire.js';
import type { GuacStream } from './relay.js';

export interface GuacdEndpoint {
  host: string;
  port: number;
}

export class GuacdError extends Error {
  constructor(
    /**
     * guacd_unreachable | guacd_handshake_failed | guacd_refused (guacd answered with an `error`) |
     * guacd_unsupported (guacd does not ask for a parameter the session's safety depends on).
     */
    readonly code: 'guacd_unreachable' | 'guacd_handshake_failed' | 'guacd_refused' | 'guacd_unsupported',
    message: string,
    /** The Guacamole status code guacd sent with its `error`, if any. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GuacdError';
  }
}

/** Opens the TCP connection to guacd (nothing is sent yet). */
export function dialGuacd(ep: GuacdEndpoint, timeoutMs = 5000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ep.host, port: ep.port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new GuacdError('guacd_unreachable', `guacd at ${ep.host}:${ep.port} ${why}`));
    };
    const timer = setTimeout(() => fail('did not answer in time'), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(
        err.code === 'ECONNREFUSED'
          ? 'refused the connection (is guacd running?)'
          : `could not be reached (${err.code ?? err.message})`,
      );
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Protocol versions we speak, oldest first (guacd announces its own as the first `args` element). */
const VERSIONS = ['VERSION_1_0_0', 'VERSION_1_1_0', 'VERSION_1_3_0', 'VERSION_1_5_0'] as const;

export interface ClientInfo {
  width: number;
  height: number;
  dpi: number;
  /** IANA zone, sent from protocol 1.1.0 on. */
  timezone?: string;
  /** Who joins (guacd logs it), sent from protocol 1.5.0 on. */
  name?: string;
  imageTypes?: string[];
}

export interface Handshaken {
  /** guacd's id of the connection (`$…`): what a read-only viewer `select`s to join it. */
  connectionId: string;
  /** The version we answered with (VERSION_1_0_0 if guacd announced none). */
  version: string;
  /** The parameter names guacd asked for, in order. */
  argNames: string[];
}

export type GuacdEnd =
  { kind: 'closed' } | { kind: 'idle' } | { kind: 'protocol'; error: string } | { kind: 'socket'; error: string };

export interface GuacdLinkOptions {
  /** Nothing from guacd for this long ends the link (guacd sends `nop` every 5 s when idle). */
  idleMs: number;
}

type FrameListener = (text: string, instructions: Instruction[]) => void;

/** One guacd connection after dialling: the handshake, then whole-instruction frames. */
export class GuacdLink implements GuacStream {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private listener: FrameListener | undefined;
  private early: Array<[string, Instruction[]]> = [];
  private endListeners: Array<(e: GuacdEnd) => void> = [];
  private endedAs: GuacdEnd | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    private readonly o: GuacdLinkOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.end({ kind: 'socket', error: err.message }));
    socket.on('close', () => this.end({ kind: 'closed' }));
    this.touch();
  }

  get ended(): GuacdEnd | undefined {
    return this.endedAs;
  }

  /**
   * Runs the handshake for `select` (a protocol name, or a connection id to join) with `params` by name.
   * `required` names parameters guacd must ask for: guacd ignores what it does not ask for, so an older guacd
   * would quietly drop a restriction (a clipboard switched off, a certificate pin); then nothing is connected.
   */
  async handshake(
    select: string,
    params: Readonly<Record<string, string>>,
    client: ClientInfo,
    timeoutMs: number,
    required: readonly string[] = [],
  ): Promise<Handshaken> {
    const inbox: Instruction[] = [];
    let wake: (() => void) | undefined;
    this.listener = (_t, ins) => {
      inbox.push(...ins);
      wake?.();
    };
    this.onEnd(() => wake?.());
    const next = async (deadline: number): Promise<Instruction> => {
      for (;;) {
        const got = inbox.shift();
        if (got) return got;
        if (this.endedAs)
          throw new GuacdError(
            'guacd_handshake_failed',
            `guacd ended the connection during the handshake (${describeEnd(this.endedAs)})`,
          );
        const left = deadline - Date.now();
        if (left <= 0) throw new GuacdError('guacd_handshake_failed', 'guacd did not complete the handshake in time');
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        wake = undefined;
      }
    };
    const expect = async (opcode: string, deadline: number): Promise<Instruction> => {
      const ins = await next(deadline);
      if (ins.opcode === 'error')
        throw new GuacdError(
          'guacd_refused',
          ins.args[0] || 'guacd refused the connection',
          Number(ins.args[1]) || undefined,
        );
      if (ins.opcode !== opcode)
        throw new GuacdError(
          'guacd_handshake_failed',
          `guacd sent "${ins.opcode.slice(0, 40)}" where "${opcode}" was expected`,
        );
      return ins;
    };
    try {
      const deadline = Date.now() + timeoutMs;
      this.send(encodeInstruction('select', select));
      const args = await expect('args', deadline);
      const announced = args.args[0]?.startsWith('VERSION_') ? args.args[0] : undefined;
      const version = answerVersion(announced);
      const missing = required.filter((name) => !args.args.includes(name));
      if (missing.length > 0)
        throw new GuacdError(
          'guacd_unsupported',
          `guacd does not support ${missing.join(', ')}, which this target needs; use a guacd that does (1.6 does)`,
        );
      const at = (v: string) => VERSIONS.indexOf(v as (typeof VERSIONS)[number]);
      const values = args.args.map((name, i) => (i === 0 && announced ? version : (params[name] ?? '')));
      let out = encodeInstruction('size', client.width, client.height, client.dpi);
      out += encodeInstruction('audio');
      out += encodeInstruction('video');
      out += encodeInstruction('image', ...(client.imageTypes ?? ['image/png', 'image/jpeg', 'image/webp']));
      if (at(version) >= at('VERSION_1_1_0') && client.timezone) out += encodeInstruction('timezone', client.timezone);
      if (at(version) >= at('VERSION_1_5_0') && client.name) out += encodeInstruction('name', client.name);
      out += encodeInstruction('connect', ...values);
      this.send(out);
      const ready = await expect('ready', deadline);
      const connectionId = ready.args[0] ?? '';
      if (!connectionId) throw new GuacdError('guacd_handshake_failed', 'guacd sent no connection id');
      // Whatever guacd sent after `ready` belongs to the relay, in order.
      const rest = inbox.splice(0);
      this.listener = undefined;
      if (rest.length) this.early.push([rest.map((i) => encodeInstruction(i.opcode, ...i.args)).join(''), rest]);
      return { connectionId, version, argNames: announced ? args.args.slice(1) : args.args };
    } catch (err) {
      this.listener = undefined;
      throw err;
    }
  }

  /** Delivers whole-instruction frames (after the handshake), including any that arrived meanwhile. */
  onFrames(listener: FrameListener): void {
    this.listener = listener;
    for (const [t, ins] of this.early.splice(0)) listener(t, ins);
  }

  onEnd(listener: (e: GuacdEnd) => void): void {
    if (this.endedAs) listener(this.endedAs);
    else this.endListeners.push(listener);
  }

  /** Writes raw instructions; false when the socket's buffer is full (wait for `drain`). */
  send(text: string): boolean {
    if (this.endedAs || this.socket.destroyed) return true;
    return this.socket.write(text);
  }

  onDrain(listener: () => void): void {
    this.socket.once('drain', listener);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Tells guacd we leave (`disconnect`), then closes; the socket is destroyed shortly after in any case. */
  close(): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.end(encodeInstruction('disconnect'));
    setTimeout(() => this.socket.destroy(), 250).unref();
    this.end({ kind: 'closed' });
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.end({ kind: 'idle' });
      this.socket.destroy();
    }, this.o.idleMs);
    this.idleTimer.unref();
  }

  private receive(chunk: Buffer): void {
    if (this.endedAs) return;
    this.touch();
    const text = this.pending + this.decoder.write(chunk);
    const r = parseInstructions(text);
    if (!r.ok) {
      this.end({ kind: 'protocol', error: r.error });
      this.socket.destroy();
      return;
    }
    this.pending = text.slice(r.consumed);
    if (r.instructions.length === 0) return;
    const frame = text.slice(0, r.consumed);
    if (this.listener) this.listener(frame, r.instructions);
    else this.early.push([frame, r.instructions]);
  }

  private end(e: GuacdEnd): void {
    if (this.endedAs) return;
    this.endedAs = e;
    clearTimeout(this.idleTimer);
    for (const l of this.endListeners.splice(0)) l(e);
  }
}

/** The version to answer guacd with: its own if we know it, our newest if it is newer, 1.0.0 if it named none. */
function answerVersion(announced: string | undefined): string {
  if (!announced) return 'VERSION_1_0_0';
  if ((VERSIONS as readonly string[]).includes(announced)) return announced;
  return VERSIONS[VERSIONS.length - 1]!;
}

export function describeEnd(e: GuacdEnd): string {
  switch (e.kind) {
    case 'closed':
      return 'connection closed';
    case 'idle':
      return 'guacd stopped responding';
    case 'protocol':
      return `malformed data from guacd: ${e.error}`;
    case 'socket':
      return `network error: ${e.error}`;
  }
}
