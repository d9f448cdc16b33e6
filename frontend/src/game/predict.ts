// Client-side prediction with reconciliation for the local player's movement.
// The mode supplies the movement step (one server tick of its own input, as
// the server computes it); this predictor applies the player's inputs at
// once, one step per local tick, and draws the player between the latest
// predicted tick and where its input takes it by the next, so the avatar
// moves every frame, not every tick. When an
// authoritative position arrives, it is replayed forward by the inputs the
// server has not applied yet (about one round trip of ticks), and the
// difference to the prediction becomes an error that decays over a few
// frames instead of a visible snap.

/** An input as the mode sends it in room.input. */
export type InputData = Record<string, number | boolean>;

/**
 * Step is a mode's movement: where one tick of input takes a player from
 * (x, y). It must round like the server (Go's integer division truncates).
 */
export type Step = (x: number, y: number, input: InputData | null) => [number, number];

/** The 8 moves of an input's m (1 north, clockwise), scaled by 1000, as the server has them. */
export const DIRS: ReadonlyArray<readonly [number, number]> = [
  [0, 0], [0, -1000], [707, -707], [1000, 0], [707, 707], [0, 1000], [-707, 707], [-1000, 0], [-707, -707],
];

/**
 * eightWay is the step of a mode whose input "m" is 0…8 (stand, then eight
 * directions clockwise from north) at speed units per tick, keeping a disc of
 * radius r inside a w × h field.
 */
export function eightWay(speed: number, r: number, w: number, h: number): Step {
  return (x, y, input) => {
    const m = typeof input?.m === "number" ? input.m : 0;
    const d = DIRS[m] ?? DIRS[0];
    return [
      clamp(x + Math.trunc((d[0] * speed) / 1000), r, w - r),
      clamp(y + Math.trunc((d[1] * speed) / 1000), r, h - r),
    ];
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(v, hi));
}

/** Beyond this error (wire units) the prediction snaps: a respawn or a teleport, not drift. */
const SNAP = 1500;
/** Share of the remaining error removed per 60 Hz frame. */
const SMOOTH = 0.18;
/** The most of a frame's own movement a correction may take back. */
const MAX_BACK = 0.7;

export class Predictor {
  /** the predicted position at the latest local tick */
  private x = 0;
  private y = 0;
  /** where the current input takes it by the next local tick */
  private tx = 0;
  private ty = 0;
  /** the visual error still to be removed (drawn = predicted + error) */
  private ex = 0;
  private ey = 0;
  private input: InputData | null = null;
  private paused = false;
  private inputs: (InputData | null)[] = []; // inputs of the latest local ticks, newest last
  private hist: [number, number][] = []; // the position after each of them
  private acc = 0;
  private has = false;
  /** The size of the last correction, for the debug overlay. */
  lastError = 0;

  constructor(private tickMs: number) {}

  reset(tickMs = this.tickMs): void {
    this.tickMs = tickMs;
    this.has = false;
    this.inputs = [];
    this.hist = [];
    this.input = null;
    this.acc = 0;
    this.ex = this.ey = 0;
  }

  get active(): boolean {
    return this.has;
  }

  /**
   * advance runs the local ticks due in dt ms with input; paused (dead,
   * frozen) it only ages the history with empty inputs. Between ticks the
   * player is drawn on its way to where the input takes it by the next
   * tick, so it moves on every frame from the first one a key is down.
   */
  advance(dt: number, input: InputData | null, step: Step, paused: boolean): void {
    if (!this.has) return;
    // A changed input changes where the player is heading: keep the drawing
    // where it was and let the error absorb the difference.
    this.keep(() => {
      this.input = input;
      this.paused = paused;
      this.aim(step);
    });
    const [bx, by] = this.raw();
    this.acc += Math.min(dt, 250);
    while (this.acc >= this.tickMs) {
      this.acc -= this.tickMs;
      this.x = this.tx;
      this.y = this.ty;
      this.inputs.push(paused ? null : input);
      this.hist.push([this.x, this.y]);
      if (this.inputs.length > 64) {
        this.inputs.shift();
        this.hist.shift();
      }
      this.aim(step);
    }
    const k = 1 - Math.pow(1 - SMOOTH, dt / (1000 / 60));
    let cx = -this.ex * k;
    let cy = -this.ey * k;
    // While the player moves, a correction against the motion takes at most
    // 70% of this frame's step: the player slows down, never stops or backs up.
    const [ax, ay] = this.raw();
    const dx = ax - bx;
    const dy = ay - by;
    const len = Math.hypot(dx, dy);
    if (len > 0) {
      const along = (cx * dx + cy * dy) / len;
      const least = -MAX_BACK * len;
      if (along < least) {
        const fix = (least - along) / len;
        cx += dx * fix;
        cy += dy * fix;
      }
    }
    this.ex += cx;
    this.ey += cy;
  }

  /**
   * reconcile takes the server's position of the local player. The server
   * has not applied the latest few local inputs yet: which ones is found by
   * matching its position with the positions predicted after each recent
   * local tick (the nearest, the most recent on a tie), at most maxUnseen
   * back; those inputs are replayed from the server's position. A round
   * trip time would only estimate that count, and one slow ping would then
   * throw the prediction ahead.
   */
  reconcile(sx: number, sy: number, maxUnseen: number, step: Step, paused: boolean): void {
    if (!this.has) {
      this.x = this.tx = sx;
      this.y = this.ty = sy;
      this.has = true;
      return;
    }
    let x = sx;
    let y = sy;
    if (!paused) {
      const len = this.inputs.length;
      let n = 0;
      let best = Infinity;
      for (let k = 0; k < Math.min(maxUnseen + 1, len); k++) {
        const [hx, hy] = this.hist[len - 1 - k];
        const d = Math.hypot(hx - sx, hy - sy);
        if (d < best) [n, best] = [k, d];
      }
      for (let i = len - n; i < len; i++) [x, y] = step(x, y, this.inputs[i]);
    }
    this.lastError = Math.hypot(x - this.x, y - this.y);
    this.paused = paused;
    if (this.lastError > SNAP) {
      this.x = x;
      this.y = y;
      this.aim(step);
      this.ex = this.ey = 0;
      return;
    }
    this.keep(() => {
      this.x = x;
      this.y = y;
      this.aim(step);
    });
  }

  private aim(step: Step): void {
    [this.tx, this.ty] = this.paused ? [this.x, this.y] : step(this.x, this.y, this.input);
  }

  /** keep runs a change of the prediction without moving the drawing: the error takes the difference. */
  private keep(change: () => void): void {
    const [bx, by] = this.raw();
    change();
    const [ax, ay] = this.raw();
    this.ex += bx - ax;
    this.ey += by - ay;
  }

  /** raw is the predicted position now, between the latest tick and the next, without the error. */
  private raw(): [number, number] {
    const k = Math.min(1, this.acc / this.tickMs);
    return [this.x + (this.tx - this.x) * k, this.y + (this.ty - this.y) * k];
  }

  /** position is where to draw the local player now. */
  position(): [number, number] {
    const [x, y] = this.raw();
    return [x + this.ex, y + this.ey];
  }

  /** latest is the predicted position at the latest local tick, unsmoothed (for tests). */
  latest(): [number, number] {
    return [this.x, this.y];
  }
}
