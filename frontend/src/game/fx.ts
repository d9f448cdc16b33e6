// Short-lived visual effects a mode renderer adds when it notices something
// (a shot, a hit, a kill) and draws itself: each has a kind the mode chose, a
// world position, a start time and a life. The room keeps one list per room
// and clears it on leaving, so modes hold no per-room state of their own.

export interface Effect {
  /** the mode's own name for the effect ("flash", "hit", …) */
  kind: string;
  x: number;
  y: number;
  /** local time (ms) it started and how long it lasts */
  at: number;
  ttl: number;
  /** an entity it follows or concerns, an angle, a text: whatever the mode needs */
  id?: number;
  a?: number;
  text?: string;
}

const MAX = 256;

export class Effects {
  private list: Effect[] = [];
  /** screen shake still to play, in CSS pixels, and when it was set */
  private shakeAmp = 0;
  private shakeAt = 0;

  add(e: Effect): void {
    this.list.push(e);
    if (this.list.length > MAX) this.list.shift();
  }

  /** live returns the effects still running at now, with their age 0…1; expired ones go. */
  live(now: number): { e: Effect; k: number }[] {
    this.list = this.list.filter((e) => now - e.at < e.ttl);
    return this.list.map((e) => ({ e, k: Math.max(0, (now - e.at) / e.ttl) }));
  }

  /** shake asks the camera to shake by amp CSS pixels, decaying over about 300 ms. */
  shake(amp: number, now: number): void {
    if (amp > this.shakeOffset(now).amp) {
      this.shakeAmp = amp;
      this.shakeAt = now;
    }
  }

  /** shakeOffset is the camera offset for now. */
  shakeOffset(now: number): { dx: number; dy: number; amp: number } {
    const amp = this.shakeAmp * Math.max(0, 1 - (now - this.shakeAt) / 300);
    if (amp < 0.2) return { dx: 0, dy: 0, amp: 0 };
    return { dx: amp * Math.sin(now / 17), dy: amp * Math.cos(now / 23), amp };
  }

  clear(): void {
    this.list = [];
    this.shakeAmp = 0;
  }
}
