// Keyboard, mouse and touch merged into one control state. Keys typed into a
// text field never reach the game; Escape leaves a text field for the game.
// On a touch screen there are two sticks: the left one moves, the right one
// (for modes that aim) aims where it is pushed and fires while held.

import type { Controls } from "../modes/mode";
import { isTyping } from "./dom";

const AXES: Record<string, [number, number, number]> = {
  // code: dx, dy, dir
  KeyW: [0, -1, 0], ArrowUp: [0, -1, 0],
  KeyS: [0, 1, 2], ArrowDown: [0, 1, 2],
  KeyA: [-1, 0, 3], ArrowLeft: [-1, 0, 3],
  KeyD: [1, 0, 1], ArrowRight: [1, 0, 1],
};

/** The shortest fire a click makes: longer than a tick at 10 Hz, so a quick click is never lost between ticks. */
const MIN_FIRE_MS = 120;

export class Input {
  private readonly down = new Set<string>();
  private dir: number | null = null;
  private pointer: [number, number] | null = null; // CSS px within the canvas
  private mouseFire = false;
  /** a click holds fire at least until then (local ms), so a quick click reaches a server tick */
  private fireUntil = 0;
  private touchFire = false;
  private stick: [number, number] | null = null;
  /** the aim stick's direction in degrees while it is pushed */
  private aimStick: number | null = null;
  readonly touch: boolean;

  constructor(private readonly canvas: HTMLCanvasElement, stick: HTMLElement, private readonly aimEl: HTMLElement) {
    this.touch = matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
    window.addEventListener("keydown", (e) => {
      if (isTyping(e.target)) {
        if (e.key === "Escape") {
          (e.target as HTMLElement).blur();
          this.canvas.focus();
        }
        return;
      }
      const a = AXES[e.code];
      if (!a) return;
      e.preventDefault();
      this.down.add(e.code);
      this.dir = a[2];
    });
    window.addEventListener("keyup", (e) => this.down.delete(e.code));
    window.addEventListener("blur", () => this.release());
    canvas.addEventListener("pointermove", (e) => {
      if (e.pointerType === "mouse") this.pointer = this.local(e);
    });
    canvas.addEventListener("pointerdown", (e) => {
      canvas.focus();
      if (e.pointerType === "mouse" && e.button === 0) {
        this.pointer = this.local(e);
        this.mouseFire = true;
        this.fireUntil = performance.now() + MIN_FIRE_MS;
      } else if (e.pointerType !== "mouse") {
        // Touch on the field aims there and fires.
        this.pointer = this.local(e);
        this.touchFire = true;
      }
    });
    const up = (e: PointerEvent) => {
      if (e.pointerType === "mouse") this.mouseFire = false;
      else this.touchFire = false;
    };
    canvas.addEventListener("pointerup", up);
    canvas.addEventListener("pointercancel", up);
    window.addEventListener("pointerup", (e) => {
      if (e.pointerType === "mouse") this.mouseFire = false;
    });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    this.bindStick(stick, (x, y, len, max) => {
      if (len < max * 0.25) {
        this.stick = null;
        return;
      }
      // Eight directions, like the keyboard.
      const oct = Math.round(Math.atan2(y, x) / (Math.PI / 4));
      const dirs: [number, number][] = [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]];
      this.stick = dirs[(oct + 8) % 8];
      this.dir = Math.abs(x) > Math.abs(y) ? (x > 0 ? 1 : 3) : y > 0 ? 2 : 0;
    }, () => (this.stick = null));
    this.bindStick(aimEl, (x, y, len, max) => {
      // Any push past a small dead zone aims there and fires.
      this.aimStick = len < max * 0.2 ? null : (Math.atan2(y, x) * 180) / Math.PI;
    }, () => (this.aimStick = null));
  }

  /** aiming shows the aim stick for modes that aim and fire. */
  aiming(on: boolean): void {
    this.aimEl.hidden = !on;
    if (!on) this.aimStick = null;
  }

  private local(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  /** bindStick follows one pointer on a stick: moved gets its offset from the centre and the stick's radius. */
  private bindStick(stick: HTMLElement, moved: (x: number, y: number, len: number, max: number) => void, ended: () => void): void {
    const knob = stick.firstElementChild as HTMLElement | null;
    let id = -1;
    const move = (e: PointerEvent) => {
      const r = stick.getBoundingClientRect();
      const x = e.clientX - (r.left + r.width / 2);
      const y = e.clientY - (r.top + r.height / 2);
      const len = Math.hypot(x, y);
      const max = r.width / 2;
      const k = len > max ? max / len : 1;
      if (knob) knob.style.transform = `translate(${x * k}px, ${y * k}px)`;
      moved(x, y, len, max);
    };
    stick.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      id = e.pointerId;
      stick.setPointerCapture(id);
      move(e);
    });
    stick.addEventListener("pointermove", (e) => {
      if (e.pointerId === id) move(e);
    });
    const end = (e: PointerEvent) => {
      if (e.pointerId !== id) return;
      id = -1;
      ended();
      if (knob) knob.style.transform = "";
    };
    stick.addEventListener("pointerup", end);
    stick.addEventListener("pointercancel", end);
  }

  /** release forgets held keys and buttons (window blur, leaving a room). */
  release(): void {
    this.down.clear();
    this.mouseFire = this.touchFire = false;
    this.fireUntil = 0;
    this.stick = null;
    this.aimStick = null;
    this.dir = null;
  }

  /** controls returns the merged state; origin is the local player on screen, for aiming. */
  controls(origin: [number, number] | null): Controls {
    let dx = 0;
    let dy = 0;
    for (const code of this.down) {
      const a = AXES[code];
      dx += a[0];
      dy += a[1];
    }
    if (this.stick) [dx, dy] = this.stick;
    let aim: number | null = null;
    if (this.aimStick !== null) aim = this.aimStick;
    else if (this.pointer && origin) {
      aim = (Math.atan2(this.pointer[1] - origin[1], this.pointer[0] - origin[0]) * 180) / Math.PI;
    }
    return { dx: Math.sign(dx), dy: Math.sign(dy), dir: this.dir, aim, fire: this.mouseFire || this.touchFire || this.aimStick !== null || performance.now() < this.fireUntil };
  }
}
