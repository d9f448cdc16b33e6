// Entity interpolation: remote entities are drawn a little in the past,
// between the two received states around that moment, so a 20 Hz stream looks
// smooth at 60 fps. Server ticks are mapped to local time from their arrival
// times. How far in the past follows the measured delivery jitter of the
// transport: over the last few seconds, the spread between the least and the
// most delayed arrival, plus one tick to interpolate towards. A streaming
// transport delivers every tick on time and is drawn two ticks behind; plain
// polling delivers a quarter second of ticks at once and is drawn about seven
// behind, so nothing freezes waiting for the next batch. The playback clock
// never jumps: it runs a little slower or faster until it reaches the new
// delay.

/** Positions of the moving entities at one tick. */
interface Frame {
  tick: number;
  pos: Map<number, [number, number]>;
}

const KEEP = 64;
/** Arrivals remembered for the jitter measure (ms). */
const WINDOW_MS = 5000;
/** The most jitter followed (ms): beyond that it is an outage, not jitter. */
const MAX_JITTER_MS = 1000;
/** Slack beyond the measured jitter, in ticks. */
const MARGIN_TICKS = 0.5;
/** Playback runs at most this much slower (to add delay) or faster (to shed it). */
const SLOWER = 0.25;
const FASTER = 0.05;

export class Interpolator {
  private frames: Frame[] = [];
  private arrivals: { at: number; o: number }[] = [];
  /** local ms drawn as tick 0 (moving smoothly towards target) */
  private base: number | null = null;
  private target = 0;
  private lastNow = 0;
  private delayMs: number;
  /** frames drawn past the newest state: the picture froze, waiting */
  starved = 0;

  constructor(private tickMs: number, private readonly minDelayTicks = 2) {
    this.delayMs = minDelayTicks * tickMs;
  }

  reset(tickMs = this.tickMs): void {
    this.tickMs = tickMs;
    this.frames = [];
    this.arrivals = [];
    this.base = null;
    this.delayMs = this.minDelayTicks * tickMs;
  }

  /**
   * clearFrames forgets the states (a snapshot replaced the view) but keeps
   * the clock and what it learned of the transport's jitter.
   */
  clearFrames(): void {
    this.frames = [];
  }

  /** delay is the current render delay, in ticks. */
  get delay(): number {
    return this.delayMs / this.tickMs;
  }

  /** push records the positions of a newly applied tick, received at local time now. */
  push(tick: number, pos: Map<number, [number, number]>, now: number): void {
    const last = this.frames[this.frames.length - 1];
    if (last && tick <= last.tick) this.frames = this.frames.filter((f) => f.tick < tick);
    this.frames.push({ tick, pos });
    if (this.frames.length > KEEP) this.frames.shift();

    // o is when tick 0 would have arrived, judging by this arrival.
    const o = now - tick * this.tickMs;
    this.arrivals.push({ at: now, o });
    while (this.arrivals.length > 1 && now - this.arrivals[0].at > WINDOW_MS) this.arrivals.shift();
    let lo = Infinity;
    let hi = -Infinity;
    for (const a of this.arrivals) {
      lo = Math.min(lo, a.o);
      hi = Math.max(hi, a.o);
    }
    const jitter = Math.min(hi - lo, MAX_JITTER_MS);
    this.delayMs = Math.max(this.minDelayTicks * this.tickMs, this.tickMs * (1 + MARGIN_TICKS) + jitter);
    this.target = lo + this.delayMs;
    if (this.base === null || Math.abs(this.target - this.base) > MAX_JITTER_MS + this.delayMs) {
      // The first state, or the stream restarted: no easing from nowhere.
      this.base = this.target;
      this.lastNow = now;
    }
  }

  /** advance moves the playback clock to now, easing its delay towards the target. */
  private advance(now: number): void {
    if (this.base === null || now <= this.lastNow) return;
    const dt = now - this.lastNow;
    this.lastNow = now;
    const d = this.target - this.base;
    const max = dt * (d > 0 ? SLOWER : FASTER);
    this.base += Math.max(-max, Math.min(max, d));
  }

  /** frame is called once per drawn frame: it counts a frame drawn past the newest state. */
  frame(now: number): void {
    const t = this.renderTick(now);
    const last = this.frames[this.frames.length - 1];
    if (last && this.frames.length > 1 && t > last.tick) this.starved++;
  }

  /** renderTick is the (fractional) tick to draw at local time now. */
  renderTick(now: number): number {
    if (this.base === null) return 0;
    this.advance(now);
    return (now - this.base) / this.tickMs;
  }

  /** depth is how many frames are buffered after the render tick (for the debug overlay). */
  depth(now: number): number {
    const t = this.renderTick(now);
    return this.frames.filter((f) => f.tick > t).length;
  }

  /**
   * at returns entity id's position at local time now, interpolated between
   * the frames around the render tick; clamped to the newest frame when the
   * stream runs late, and null when the entity is in no frame.
   */
  at(id: number, now: number): [number, number] | null {
    const n = this.frames.length;
    if (n === 0) return null;
    const t = this.renderTick(now);
    let i = n - 1;
    while (i > 0 && this.frames[i - 1].tick > t) i--;
    // frames[i] is the first at or after t (or the newest); frames[i-1] before it.
    const b = this.frames[i];
    const a = i > 0 ? this.frames[i - 1] : null;
    const pb = b.pos.get(id);
    if (!a || b.tick <= t) return pb ?? this.latest(id);
    const pa = a.pos.get(id);
    if (!pa) return pb ?? null;
    if (!pb) return pa;
    const k = Math.max(0, Math.min(1, (t - a.tick) / (b.tick - a.tick)));
    return [pa[0] + (pb[0] - pa[0]) * k, pa[1] + (pb[1] - pa[1]) * k];
  }

  private latest(id: number): [number, number] | null {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const p = this.frames[i].pos.get(id);
      if (p) return p;
    }
    return null;
  }
}
