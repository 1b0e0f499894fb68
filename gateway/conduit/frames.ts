// Splits a byte stream into the protocol's length-prefixed frames with a buffer bounded by one frame.
import { type FrameParser, isUnparseable, type Unparseable } from './operation.js';

export interface Split {
  frames: Buffer[];
  failed?: Unparseable;
  rest?: Buffer;
}

/**
 * Feed chunks as they arrive; get whole frames back, in order, sharing memory with the chunks where they
 * can. At most one incomplete frame is kept (the parser caps a frame's length), so a hostile length field
 * costs that cap, never more. After anything unparseable the splitter stays failed: frame boundaries are
 * lost, and guessing them again is how a relay desynchronises.
 */
export class FrameSplitter {
  private held: Buffer | undefined;
  failed: Unparseable | undefined;

  constructor(private readonly parser: Pick<FrameParser, 'frameLength'>) {}

  /** Bytes of an incomplete frame held now. */
  get pending(): number {
    return this.held?.length ?? 0;
  }

  /** Whole frames in order; on failure also the bytes from the bad frame on (`rest`), for an opaque relay. */
  push(chunk: Buffer): Split {
    if (this.failed) return { frames: [], failed: this.failed, rest: chunk };
    let buf = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    const frames: Buffer[] = [];
    for (;;) {
      if (buf.length === 0) return { frames };
      const n = this.parser.frameLength(buf);
      if (isUnparseable(n)) {
        this.failed = n;
        return { frames, failed: n, rest: buf };
      }
      if (n === 0 || buf.length < n) {
        // Copied: a kept subarray would pin the whole (possibly large) chunk.
        this.held = Buffer.from(buf);
        return { frames };
      }
      frames.push(buf.subarray(0, n));
      buf = buf.subarray(n);
    }
  }
}
