// "Once per key per period": how often one viewing is audited, whatever number of range requests it takes.
export class OncePer {
  /** Insertion-ordered: the oldest entry is the first to expire and the first dropped at the bound. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly periodMs: number,
    private readonly now: () => number,
    private readonly max = 10_000,
  ) {}

  /** True the first time `key` is seen in a period (and then records it); false while the period runs. */
  first(key: string): boolean {
    const t = this.now();
    for (const [k, at] of this.seen) {
      if (t - at < this.periodMs && this.seen.size < this.max) break;
      this.seen.delete(k);
    }
    const at = this.seen.get(key);
    // A clock stepping back must not silence auditing for long: a future stamp counts as expired.
    if (at !== undefined && t - at < this.periodMs && t >= at) return false;
    this.seen.delete(key);
    this.seen.set(key, t);
    return true;
  }

  /** Forgets `key`, so its next use is audited again (used when the audit write itself failed). */
  forget(key: string): void {
    this.seen.delete(key);
  }
}
