// Snake: on a grid at 10 Hz. Turn with WASD or arrows; eat food to grow; any
// body (yours too) or a wall kills. The world is drawn at the newest tick,
// and each snake glides into it: the head slides from its last cell (the
// newest body segment) into its new one over the tick, and the cell the tail
// left fades out behind it.

import type { Entity } from "../../game/view";
import { colorOf, disc, field, frame, label, YOU } from "../draw";
import type { ModeClient, Tone } from "../mode";

// Fields of "p": x y dir len alive; of "s": x y owner; of "f": x y. Units are cells.
const GROW: Tone = [880, 0.08, "sine", 0.06];
const CRASH: Tone = [180, 0.12, "sawtooth", 0.05];

export const snake: ModeClient = {
  name: "snake",
  title: "Snake",
  blurb: "Classic snake, many players. Longest at the end wins.",
  color: "#4ade80",
  help: "WASD / arrows turn",
  moving: [],
  pointer: false,
  scoreLabel: "Length",
  score: (p) => p.f[3],

  input(c) {
    return c.dir === null ? null : { d: c.dir };
  },

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 40, h: 30 };
    return frame(w, h, f.w, f.h, focus ? [focus[0] + 0.5, focus[1] + 0.5] : null, 10, 1.04);
  },

  changed(c) {
    if (c.snapshot) return;
    for (const s of c.removed) {
      const owner = s.kind === "s" ? c.view.ents.get(s.f[2]) : undefined;
      if (owner && owner.f[4] === 1) c.fx.add({ kind: "tail", x: s.f[0], y: s.f[1], at: c.time, ttl: c.tickMs, id: owner.id });
    }
    for (const p of c.view.ofKind("p")) {
      const was = c.before.get(p.id);
      if (was && was.f[4] === 1 && p.f[4] === 0) c.feed(`${p.label ?? "?"} crashed at length ${was.f[3]}`, p.id === c.you);
    }
    const me = c.me;
    const prev = c.prevMe;
    if (!me || !prev) return;
    if (me.f[3] > prev.f[3]) c.sound(GROW);
    if (me.f[4] === 0 && prev.f[4] !== 0) {
      c.sound(CRASH);
      c.fx.shake(6, c.time);
      c.card("You crashed", `length ${prev.f[3]} · respawning…`);
    }
    if (me.f[4] === 1 && prev.f[4] === 0) c.card(null);
  },

  draw(dc) {
    const { ctx, cam, view } = dc;
    const f = view.field();
    if (f) field(ctx, cam, f.w, f.h, 1, "rgba(74, 222, 128, 0.6)");
    const c = cam.scale;
    const X = (x: number) => cam.ox + x * c;
    const Y = (y: number) => cam.oy + y * c;
    // How far into the newest tick: 0 when it arrived, 1 a tick later.
    const k = Math.max(0, Math.min(1, dc.present - view.tick));
    for (const food of view.ofKind("f")) {
      const pulse = 0.28 + 0.04 * Math.sin(dc.time / 200 + food.id);
      disc(ctx, X(food.f[0] + 0.5), Y(food.f[1] + 0.5), c * pulse, "#fb7185", 8);
    }
    const necks = new Map<number, Entity>();
    for (const s of view.ofKind("s")) {
      const owner = s.f[2];
      ctx.fillStyle = owner === dc.you ? "rgba(255, 209, 102, 0.75)" : colorOf(owner) + "bb";
      roundRect(ctx, X(s.f[0]) + 1, Y(s.f[1]) + 1, c - 2, c - 2, c * 0.25);
      const n = necks.get(owner);
      if (!n || s.id > n.id) necks.set(owner, s);
    }
    // The cells tails just left, shrinking into the body.
    for (const { e, k: age } of dc.fx.live(dc.time)) {
      if (e.kind !== "tail") continue;
      const inset = 1 + (c / 2 - 1) * age;
      ctx.fillStyle = e.id === dc.you ? "rgba(255, 209, 102, 0.75)" : colorOf(e.id ?? 0) + "bb";
      roundRect(ctx, X(e.x) + inset, Y(e.y) + inset, c - 2 * inset, c - 2 * inset, c * 0.25);
    }
    for (const p of view.ofKind("p")) {
      if (p.f[4] === 0) continue;
      const me = p.id === dc.you;
      const color = me ? YOU : colorOf(p.id);
      let [hx, hy] = [p.f[0], p.f[1]];
      const neck = necks.get(p.id);
      if (neck && Math.abs(neck.f[0] - hx) + Math.abs(neck.f[1] - hy) === 1) {
        hx = neck.f[0] + (hx - neck.f[0]) * k;
        hy = neck.f[1] + (hy - neck.f[1]) * k;
      }
      ctx.shadowColor = color;
      ctx.shadowBlur = 12;
      ctx.fillStyle = color;
      roundRect(ctx, X(hx) + 0.5, Y(hy) + 0.5, c - 1, c - 1, c * 0.35);
      ctx.shadowBlur = 0;
      // Eyes look the way the snake goes.
      const [ex, ey] = [[0, -1], [1, 0], [0, 1], [-1, 0]][p.f[2] & 3];
      const cx = X(hx + 0.5);
      const cy = Y(hy + 0.5);
      for (const side of [-1, 1]) {
        const px = cx + ex * c * 0.18 + ey * side * c * 0.2;
        const py = cy + ey * c * 0.18 + ex * side * c * 0.2;
        disc(ctx, px, py, Math.max(1.2, c * 0.1), "#0b1020");
      }
      label(ctx, `${p.label ?? "?"} · ${p.f[3]}`, cx, Y(hy) - 4, me ? YOU : undefined);
    }
  },

  status(me) {
    if (!me) return "";
    return me.f[4] === 0 ? "Respawning…" : `Length ${me.f[3]}`;
  },
};

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.roundRect(x, y, Math.max(0, w), Math.max(0, h), Math.max(0, r));
  ctx.fill();
}
