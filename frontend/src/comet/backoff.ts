// Reconnect delays: exponential with jitter, so a server restart does not get
// every tab back at the same instant.

export interface BackoffOptions {
  /** First delay in ms (default 500). */
  baseMs?: number;
  /** Largest delay before jitter in ms (default 10000). */
  maxMs?: number;
  /** Relative jitter: each delay is scaled by a random factor in [1-jitter, 1+jitter] (default 0.5). */
  jitter?: number;
  /** Random source in [0, 1), replaceable in tests. */
  random?: () => number;
}

/** Backoff yields 0.5 s, 1 s, 2 s … capped at 10 s, each ±50 %, until reset. */
export class Backoff {
  private attempt = 0;
  private readonly base: number;
  private readonly max: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(o: BackoffOptions = {}) {
    this.base = o.baseMs ?? 500;
    this.max = o.maxMs ?? 10000;
    this.jitter = Math.min(Math.max(o.jitter ?? 0.5, 0), 1);
    this.random = o.random ?? Math.random;
  }

  /** The number of delays handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** next returns the delay before the next try, in ms. */
  next(): number {
    // 2**attempt overflows to Infinity long after the cap, so clamp the exponent.
    const raw = Math.min(this.max, this.base * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const factor = 1 + this.jitter * (2 * this.random() - 1);
    return Math.round(raw * factor);
  }

  /** reset starts again from the first delay (after a success). */
  reset(): void {
    this.attempt = 0;
  }
}

/** jittered scales ms by a random factor in [1-j, 1+j]. */
export function jittered(ms: number, j = 0.25, random: () => number = Math.random): number {
  return Math.round(ms * (1 + j * (2 * random() - 1)));
}
