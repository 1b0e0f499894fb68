// Reads a PLC protocol off a forward as it relays: requests are judged frame by frame before they reach the device, replies are read on a copy.
import { FrameSplitter } from './frames.js';
import { type FrameParser, isUnparseable, type PlcReply, type PlcRequest } from './operation.js';

/** What the rules and the record make of a request. `held` resolves true to pass it, false to refuse it. */
export type Judgement = { pass: true } | { pass: false } | { held: Promise<boolean> };

export interface InspectorHooks {
  judge(request: PlcRequest): Judgement;
  reply(reply: PlcReply): void;
  /** The stream stopped being the protocol; return whether to keep relaying it as opaque bytes. */
  unparseable(reason: string, from: 'client' | 'device'): boolean;
}

/** Where the inspector's bytes go: the relay's two sinks, the client's pause, and the end of the forward. */
export interface InspectorIo {
  toDevice(buf: Buffer): void;
  toClient(buf: Buffer): void;
  holdClient(): void;
  releaseClient(): void;
  close(): void;
}

type Queued = { frame: Buffer; raw?: true };

/**
 * Invariants. Bytes reach the device only as whole frames the rules have seen, in the order sent; a
 * partial frame waits for its rest (the device could not act on it sooner). A refusal is injected into
 * the client's stream only between two of the device's frames, never inside one. While an operation is
 * held for confirmation the client is paused, so the queue behind it stays within what was in flight.
 * Once either direction is unreadable, frame boundaries are lost for good: the rest is relayed opaque or
 * the forward is closed, never parsed again from a guessed offset.
 */
export class Inspector {
  private readonly requests: FrameSplitter;
  private readonly replies: FrameSplitter;
  private readonly queue: Queued[] = [];
  private fragments: Buffer[] = [];
  private holding = false;
  private opaque = false;
  private repliesUnread = false;
  private injections: Buffer[] = [];
  private closed = false;

  constructor(
    private readonly parsers: { requests: FrameParser; replies: FrameParser },
    private readonly hooks: InspectorHooks,
    private readonly io: InspectorIo,
  ) {
    this.requests = new FrameSplitter(parsers.requests);
    this.replies = new FrameSplitter(parsers.replies);
  }

  /** Client → device bytes. */
  fromClient(chunk: Buffer): void {
    if (this.closed) return;
    if (this.opaque && !this.holding && this.queue.length === 0) return this.io.toDevice(chunk);
    if (this.opaque) return void this.queue.push({ frame: chunk, raw: true });
    const split = this.requests.push(chunk);
    for (const frame of split.frames) this.queue.push({ frame });
    if (split.failed && !this.giveUp(split.failed.reason, 'client')) return;
    if (split.rest) this.queue.push({ frame: split.rest, raw: true });
    this.drain();
  }

  /** Device → client bytes: relayed at once, then read. */
  fromDevice(chunk: Buffer): void {
    if (this.closed) return;
    this.io.toClient(chunk);
    if (this.repliesUnread) return;
    const split = this.replies.push(chunk);
    for (const frame of split.frames) {
      const parsed = this.parsers.replies.parse(frame);
      if (isUnparseable(parsed)) {
        split.failed = parsed;
        break;
      }
      if (parsed.kind === 'reply') this.hooks.reply(parsed.reply);
    }
    if (split.failed) {
      this.repliesUnread = true;
      if (!this.hooks.unparseable(split.failed.reason, 'device')) return this.shut();
    }
    if (this.replies.pending === 0 && this.injections.length)
      for (const b of this.injections.splice(0)) this.io.toClient(b);
  }

  /** The forward ended: nothing more is judged or relayed. */
  end(): void {
    this.closed = true;
  }

  private giveUp(reason: string, from: 'client' | 'device'): boolean {
    this.opaque = true;
    if (this.hooks.unparseable(reason, from)) return true;
    this.shut();
    return false;
  }

  private shut(): void {
    this.closed = true;
    this.io.close();
  }

  private inject(buf: Buffer): void {
    // Between two device frames only; with unreadable replies there are no boundaries left to respect.
    if (this.replies.pending === 0 || this.repliesUnread) this.io.toClient(buf);
    else this.injections.push(buf);
  }

  private drain(): void {
    while (!this.holding && !this.closed && this.queue.length) {
      const { frame, raw } = this.queue.shift()!;
      if (raw) {
        this.io.toDevice(frame);
        continue;
      }
      const parsed = this.parsers.requests.parse(frame);
      if (isUnparseable(parsed)) {
        // Framed, but not the protocol inside (S7comm-plus in a TPKT): this frame and all after are opaque.
        if (!this.giveUp(parsed.reason, 'client')) return;
        for (const f of this.fragments.splice(0)) this.io.toDevice(f);
        this.io.toDevice(frame);
        for (const q of this.queue) q.raw = true;
        continue;
      }
      if (parsed.kind === 'fragment') {
        this.fragments.push(frame);
        continue;
      }
      const frames = [...this.fragments.splice(0), frame];
      if (parsed.kind !== 'request') {
        for (const f of frames) this.io.toDevice(f);
        continue;
      }
      const j = this.hooks.judge(parsed.request);
      if ('held' in j) {
        this.holding = true;
        this.io.holdClient();
        void j.held.then(
          (pass) => this.settle(pass, frames, parsed.refusal),
          () => this.settle(false, frames, parsed.refusal),
        );
        return;
      }
      this.settle(j.pass, frames, parsed.refusal, true);
    }
  }

  private settle(pass: boolean, frames: Buffer[], refusal: () => Buffer, inline = false): void {
    if (this.closed) return;
    if (pass) for (const f of frames) this.io.toDevice(f);
    else this.inject(refusal());
    if (inline) return;
    this.holding = false;
    this.io.releaseClient();
    this.drain();
  }
}
