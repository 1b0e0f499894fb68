// Splits a byte stream into lines with their offsets (audit.jsonl is large: never read whole).
import { createReadStream } from 'node:fs';

export interface Line {
  /** The line's bytes without its newline (may share memory with its chunk: copy to keep). */
  bytes: Buffer;
  /** Byte offset of the line's first byte in the stream (plus the start offset given). */
  offset: number;
}

/** No audit record comes near this; a longer "line" means the file is not what we think. */
const MAX_LINE = 16 << 20;

/** Feed chunks in order; complete lines come out. Splitting at 0x0A is safe in UTF-8. */
export class LineSplitter {
  private carry: Buffer = Buffer.alloc(0);
  private carryOffset: number;

  constructor(start = 0) {
    this.carryOffset = start;
  }

  *push(chunk: Buffer): Generator<Line> {
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    let from = 0;
    for (let nl = buf.indexOf(10, from); nl >= 0; nl = buf.indexOf(10, from)) {
      yield { bytes: buf.subarray(from, nl), offset: this.carryOffset + from };
      from = nl + 1;
    }
    this.carry = buf.subarray(from);
    this.carryOffset += from;
    if (this.carry.length > MAX_LINE) throw new Error(`a line at byte ${this.carryOffset} is far too long`);
  }

  /** Bytes after the last newline: a line still being written, or one cut short. */
  get rest(): number {
    return this.carry.length;
  }

  /** Where the last complete line ends. */
  get completeEnd(): number {
    return this.carryOffset;
  }
}

/**
 * Yields every newline-terminated line in [start, end) of `path`. Bytes after the last newline (a line
 * still being written, or cut off by a crash) are not yielded.
 */
export async function* readLines(path: string, range: { start?: number; end?: number } = {}): AsyncGenerator<Line> {
  const start = range.start ?? 0;
  if (range.end !== undefined && range.end <= start) return;
  const stream = createReadStream(path, {
    start,
    ...(range.end !== undefined ? { end: range.end - 1 } : {}),
    highWaterMark: 1 << 20,
  });
  const splitter = new LineSplitter(start);
  for await (const chunk of stream as AsyncIterable<Buffer>) yield* splitter.push(chunk);
}
