// Client-side prediction with reconciliation for the local player's movement
// (arena and tag). Own moves apply at once, one step per local tick, with the
// server's movement rule. When an authoritative position arrives, it is
// replayed forward by the moves the server has not applied yet (about one
// round trip of ticks), and the difference to the prediction becomes an error
// that decays over a few frames instead of a visible snap.

/** The 8 moves of an input's m (1 north, clockwise), scaled by 1000, as the server has them. */
export const DIRS: ReadonlyArray<readonly [number, number]> = [
  [0, 0], [0, -1000], [707, -707], [1000, 0], [707, 707], [0, 1000], [-707, 707], [-1000, 0], [-707, -707],
];

export interface MoveRule {
  /** speed per tick, in wire units, for the local player now. */
  speed: number;
  /** the player's radius; positions stay within [r, size − r]. */
  radius: number;
  w: number;
  h: number;
}

/** step applies one tick of move m from (x, y), rounding like Go's integer division. */
export function step(x: number, y: number, m: number, r: MoveRule): [number, number] {
  const d = DIRS[m] ?? DIRS[0];
  const nx = clamp(x + Math.trunc((d[0] * r.speed) / 1000), r.radius, r.w - r.radius);
  const ny = clamp(y + Math.trunc((d[1] * r.speed) / 1000), r.radius, r.h - r.radius);
  return [nx, ny];
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(v, hi));
}

/** Beyond this error (wire units) the prediction snaps: a respawn or a teleport, not drift. */
const SNAP = 1500;
/** Share of the remaining error removed per 60 Hz frame. */
const SMOOTH = 0.18;

export class Predictor {
  /** the predicted position without smoothing */
  private x = 0;
  private y = 0;
  /** the visual error still to be removed (drawn = predicted + error) */
  private ex = 0;
  private ey = 0;
  private moves: number[] = []; // moves of the latest local ticks, newest last
  private acc = 0;
  private has = false;
  /** The size of the last correction, for the debug overlay. */
  lastError = 0;

  constructor(private tickMs: number) {}

  reset(tickMs = this.tickMs): void {
    this.tickMs = tickMs;
    this.has = false;
    this.moves = [];
    this.acc = 0;
    this.ex = this.ey = 0;
  }

  get active(): boolean {
    return this.has;
  }

  /**
   * advance runs the local ticks due in dt ms with move m; paused (dead,
   * frozen) it only ages the history with standing moves.
   */
  advance(dt: number, m: number, rule: MoveRule, paused: boolean): void {
    if (!this.has) return;
    this.acc += Math.min(dt, 250);
    while (this.acc >= this.tickMs) {
      this.acc -= this.tickMs;
      const mv = paused ? 0 : m;
      [this.x, this.y] = step(this.x, this.y, mv, rule);
      this.moves.push(mv);
      if (this.moves.length > 64) this.moves.shift();
    }
    const k = 1 - Math.pow(1 - SMOOTH, dt / (1000 / 60));
    this.ex -= this.ex * k;
    this.ey -= this.ey * k;
  }

  /**
   * reconcile takes the server's position of the local player and the
   * number of recent local moves it has not seen yet.
   */
  reconcile(sx: number, sy: number, unseen: number, rule: MoveRule, paused: boolean): void {
    if (!this.has) {
      this.x = sx;
      this.y = sy;
      this.has = true;
      return;
    }
    let x = sx;
    let y = sy;
    if (!paused) {
      const n = Math.max(0, Math.min(unseen, this.moves.length));
      for (let i = this.moves.length - n; i < this.moves.length; i++) [x, y] = step(x, y, this.moves[i], rule);
    }
    const dx = x - this.x;
    const dy = y - this.y;
    this.lastError = Math.hypot(dx, dy);
    if (this.lastError > SNAP) {
      this.ex = this.ey = 0;
    } else {
      this.ex -= dx;
      this.ey -= dy;
    }
    this.x = x;
    this.y = y;
  }

  /** position is where to draw the local player now. */
  position(): [number, number] {
    return [this.x + this.ex, this.y + this.ey];
  }
}
