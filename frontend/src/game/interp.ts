// Entity interpolation: remote entities are drawn about two ticks in the past,
// between the two received states around that moment, so a 20 Hz stream looks
// smooth at 60 fps. Server ticks are mapped to local time from their arrival
// times; the mapping follows the earliest arrivals (least delayed), easing
// towards later ones so jitter does not shake the picture.

/** Positions of the moving entities at one tick. */
interface Frame {
  tick: number;
  pos: Map<number, [number, number]>;
}

const KEEP = 32;

export class Interpolator {
  private frames: Frame[] = [];
  private offset: number | null = null; // local ms at tick 0
  readonly delayTicks: number;

  constructor(private tickMs: number, delayTicks = 2) {
    this.delayTicks = delayTicks;
  }

  reset(tickMs = this.tickMs): void {
    this.tickMs = tickMs;
    this.frames = [];
    this.offset = null;
  }

  /** push records the positions of a newly applied tick, received at local time now. */
  push(tick: number, pos: Map<number, [number, number]>, now: number): void {
    const last = this.frames[this.frames.length - 1];
    if (last && tick <= last.tick) this.frames = this.frames.filter((f) => f.tick < tick);
    this.frames.push({ tick, pos });
    if (this.frames.length > KEEP) this.frames.shift();
    const o = now - tick * this.tickMs;
    if (this.offset === null || Math.abs(o - this.offset) > 1000) this.offset = o;
    else if (o < this.offset) this.offset = o; // arrived earlier than expected: less delay
    else this.offset += (o - this.offset) * 0.05;
  }

  /** renderTick is the (fractional) tick to draw at local time now. */
  renderTick(now: number): number {
    if (this.offset === null) return 0;
    return (now - this.offset) / this.tickMs - this.delayTicks;
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
