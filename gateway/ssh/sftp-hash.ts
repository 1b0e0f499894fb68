// SHA-256 of a file as its bytes pass through SFTP reads or writes: hashed in offset order, never guessed.
import { createHash, type Hash } from 'node:crypto';

/** Per channel (all its files): bytes ahead of a gap wait (views, not copies) until the gap is filled. */
export const MAX_HELD_BYTES = 8 * 1024 * 1024;
const MAX_HELD_PIECES = 4096;

/** The hold allowance shared by the hashes of one channel, so many open files cannot multiply it. */
export class HoldBudget {
  constructor(public left = MAX_HELD_BYTES) {}
}

/**
 * Why a reorder buffer: OpenSSH pipelines up to 64 reads of 32 KiB and a server may answer them out of
 * order (or short, with the rest asked again later). Anything else — a first byte not at offset 0, a
 * byte seen twice, a hole, more held than the bound — makes the transfer non-sequential: its hash is
 * then left out rather than reported wrong.
 */
export class OffsetHash {
  private readonly hash: Hash = createHash('sha256');
  private next = 0;
  private held: Array<{ at: number; buf: Buffer }> = [];
  private heldBytes = 0;
  private ordered = true;
  /** Every byte seen, in any order. */
  bytes = 0;

  constructor(private readonly budget = new HoldBudget()) {}

  /** `buf` belongs at file offset `at`. Keeps a reference to `buf` while it waits for a gap to fill. */
  add(at: number, buf: Buffer): void {
    this.bytes += buf.length;
    if (!this.ordered || buf.length === 0) return;
    if (at === this.next) {
      this.hash.update(buf);
      this.next += buf.length;
      return this.drain();
    }
    if (at < this.next || buf.length > this.budget.left || this.held.length >= MAX_HELD_PIECES) return this.giveUp();
    // Sorted insert; pieces mostly arrive in order, so search from the end.
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.at > at) i--;
    this.held.splice(i, 0, { at, buf });
    this.heldBytes += buf.length;
    this.budget.left -= buf.length;
  }

  /** Hex digest if every byte from offset 0 up came exactly once with no hole; undefined otherwise. Call once. */
  finish(): { sequential: boolean; sha256?: string } {
    if (!this.ordered || this.held.length > 0) {
      this.giveUp();
      return { sequential: false };
    }
    this.ordered = false; // bytes that still arrive (a late reply) are counted, never hashed after the digest
    return { sequential: true, sha256: this.hash.digest('hex') };
  }

  private drain(): void {
    while (this.held.length > 0 && this.held[0]!.at <= this.next) {
      const p = this.held.shift()!;
      this.heldBytes -= p.buf.length;
      this.budget.left += p.buf.length;
      if (p.at < this.next) return this.giveUp(); // overlap: a byte offered twice
      this.hash.update(p.buf);
      this.next += p.buf.length;
    }
  }

  private giveUp(): void {
    this.ordered = false;
    this.held = [];
    this.budget.left += this.heldBytes;
    this.heldBytes = 0;
  }
}
