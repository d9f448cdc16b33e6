// Per-second rates for the debug HUD, over a sliding window of whole seconds.

/** RateMeter counts amounts in one-second buckets and reports the mean rate over the window. */
export class RateMeter {
  private readonly buckets: Float64Array;
  private head = -1; // the second the newest bucket belongs to
  total = 0;

  constructor(private readonly windowS = 5, private readonly now: () => number = () => performance.now()) {
    this.buckets = new Float64Array(windowS);
  }

  /** add records n (events, bytes) at the current time. */
  add(n: number): void {
    this.advance();
    this.buckets[this.head % this.windowS] += n;
    this.total += n;
  }

  /** rate is the mean amount per second over the last window seconds. */
  rate(): number {
    this.advance();
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return sum / this.windowS;
  }

  private advance(): void {
    const sec = Math.floor(this.now() / 1000);
    if (this.head < 0) {
      this.head = sec;
      return;
    }
    const steps = Math.min(sec - this.head, this.windowS);
    for (let i = 1; i <= steps; i++) this.buckets[(this.head + i) % this.windowS] = 0;
    if (sec > this.head) this.head = sec;
  }
}
