// Snake: on a grid at 10 Hz. Turn with WASD or arrows; eat food to grow; any
// body (yours too) or a wall kills.

import { colorOf, disc, field, frame, label, YOU } from "../draw";
import type { ModeClient } from "../mode";

// Fields of "p": x y dir len alive; of "s": x y owner; of "f": x y. Units are cells.

export const snake: ModeClient = {
  name: "snake",
  title: "Snake",
  blurb: "Classic snake, many players. Longest at the end wins.",
  color: "#4ade80",
  help: "WASD / arrows turn",
  moving: [],
  pointer: false,

  input(c) {
    return c.dir === null ? null : { d: c.dir };
  },

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 40, h: 30 };
    return frame(w, h, f.w, f.h, focus ? [focus[0] + 0.5, focus[1] + 0.5] : null, 10, 1.04);
  },

  draw(dc) {
    const { ctx, cam, view } = dc;
    const f = view.field();
    if (f) field(ctx, cam, f.w, f.h, 1, "rgba(74, 222, 128, 0.6)");
    const c = cam.scale;
    const X = (x: number) => cam.ox + x * c;
    const Y = (y: number) => cam.oy + y * c;
    for (const food of view.ofKind("f")) {
      const pulse = 0.28 + 0.04 * Math.sin(dc.time / 200 + food.id);
      disc(ctx, X(food.f[0] + 0.5), Y(food.f[1] + 0.5), c * pulse, "#fb7185", 8);
    }
    for (const s of view.ofKind("s")) {
      ctx.fillStyle = s.f[2] === dc.you ? "rgba(255, 209, 102, 0.75)" : colorOf(s.f[2]) + "bb";
      roundRect(ctx, X(s.f[0]) + 1, Y(s.f[1]) + 1, c - 2, c - 2, c * 0.25);
    }
    for (const p of view.ofKind("p")) {
      if (p.f[4] === 0) continue;
      const me = p.id === dc.you;
      const color = me ? YOU : colorOf(p.id);
      ctx.shadowColor = color;
      ctx.shadowBlur = 12;
      ctx.fillStyle = color;
      roundRect(ctx, X(p.f[0]) + 0.5, Y(p.f[1]) + 0.5, c - 1, c - 1, c * 0.35);
      ctx.shadowBlur = 0;
      // Eyes look the way the snake goes.
      const [ex, ey] = [[0, -1], [1, 0], [0, 1], [-1, 0]][p.f[2] & 3];
      const cx = X(p.f[0] + 0.5);
      const cy = Y(p.f[1] + 0.5);
      for (const side of [-1, 1]) {
        const px = cx + ex * c * 0.18 + ey * side * c * 0.2;
        const py = cy + ey * c * 0.18 + ex * side * c * 0.2;
        disc(ctx, px, py, Math.max(1.2, c * 0.1), "#0b1020");
      }
      label(ctx, `${p.label ?? "?"} · ${p.f[3]}`, cx, Y(p.f[1]) - 4, me ? YOU : undefined);
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
