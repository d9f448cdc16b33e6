// Arena: a top-down shooter. Move with WASD or arrows, aim with the mouse,
// hold the button to fire. Bullets never change after they appear, so their
// positions are computed every frame from (x, y, dx, dy, t).

import { colorOf, disc, field, frame, label, YOU } from "../draw";
import { moveOf, type ModeClient } from "../mode";

// Fields of "p": x y aim hp frags deaths state; of "b": x y dx dy t owner.
const RADIUS = 200;
const DEAD = 1;
const PROTECTED = 2;

export const arena: ModeClient = {
  name: "arena",
  title: "Arena",
  blurb: "Fast top-down shootout. First to 20 frags wins.",
  color: "#60a5fa",
  help: "WASD / arrows move · mouse aims · click fires",
  moving: ["p"],
  pointer: true,

  input(c, me) {
    // The server needs an aim on every input: without a pointer, keep the current one.
    return { m: moveOf(c.dx, c.dy), a: Math.round(c.aim ?? me?.f[2] ?? 0), f: c.fire };
  },

  rule(view, _me, tickHz) {
    const f = view.field();
    if (!f) return null;
    return { speed: Math.trunc(2000 / tickHz), radius: RADIUS, w: f.w, h: f.h };
  },

  paused: (me) => me.f[6] === DEAD,

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 18000, h: 18000 };
    // About 900 units across the smaller side: the area a player sees.
    return frame(w, h, f.w, f.h, focus, Math.min(w, h) / 9500);
  },

  draw(dc) {
    const { ctx, cam, view } = dc;
    const f = view.field();
    if (f) field(ctx, cam, f.w, f.h, 1000, "rgba(96, 165, 250, 0.7)");
    const S = (x: number, y: number): [number, number] => [cam.ox + x * cam.scale, cam.oy + y * cam.scale];

    for (const b of view.ofKind("b")) {
      const dt = dc.tick - b.f[4];
      if (dt < 0) continue;
      const [x, y] = S(b.f[0] + b.f[2] * dt, b.f[1] + b.f[3] * dt);
      const [tx, ty] = S(b.f[0] + b.f[2] * (dt - 0.6), b.f[1] + b.f[3] * (dt - 0.6));
      ctx.strokeStyle = b.f[5] === dc.you ? "rgba(255, 209, 102, 0.5)" : "rgba(248, 113, 113, 0.45)";
      ctx.lineWidth = Math.max(2, 50 * cam.scale);
      ctx.beginPath();
      ctx.moveTo(tx, ty);
      ctx.lineTo(x, y);
      ctx.stroke();
      disc(ctx, x, y, Math.max(2.5, 55 * cam.scale), b.f[5] === dc.you ? YOU : "#fca5a5", 10);
    }

    const r = RADIUS * cam.scale;
    for (const p of view.ofKind("p")) {
      const [wx, wy] = dc.pos(p);
      const [x, y] = S(wx, wy);
      const me = p.id === dc.you;
      const color = me ? YOU : colorOf(p.id);
      const state = p.f[6];
      if (state === DEAD) {
        ctx.globalAlpha = 0.35;
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(x - r * 0.6, y - r * 0.6);
        ctx.lineTo(x + r * 0.6, y + r * 0.6);
        ctx.moveTo(x + r * 0.6, y - r * 0.6);
        ctx.lineTo(x - r * 0.6, y + r * 0.6);
        ctx.stroke();
        ctx.globalAlpha = 1;
        continue;
      }
      const a = (p.f[2] * Math.PI) / 180;
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.max(3, r * 0.38);
      ctx.lineCap = "round";
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + Math.cos(a) * r * 1.45, y + Math.sin(a) * r * 1.45);
      ctx.stroke();
      ctx.lineCap = "butt";
      disc(ctx, x, y, r, color, me ? 18 : 8);
      disc(ctx, x, y, r * 0.55, "rgba(8, 12, 24, 0.55)");
      if (state === PROTECTED) {
        ctx.strokeStyle = `rgba(255,255,255,${0.4 + 0.3 * Math.sin(dc.time / 80)})`;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(x, y, r + 5, 0, Math.PI * 2);
        ctx.stroke();
      }
      // Health bar.
      const bw = Math.max(28, r * 2.2);
      const hp = Math.max(0, Math.min(100, p.f[3])) / 100;
      ctx.fillStyle = "rgba(5, 8, 18, 0.7)";
      ctx.fillRect(x - bw / 2, y + r + 6, bw, 4);
      ctx.fillStyle = hp > 0.5 ? "#4ade80" : hp > 0.25 ? "#facc15" : "#f87171";
      ctx.fillRect(x - bw / 2, y + r + 6, bw * hp, 4);
      label(ctx, `${p.label ?? "?"}${p.f[4] ? ` · ${p.f[4]}` : ""}`, x, y - r - 6, me ? YOU : undefined);
    }
  },

  status(me) {
    if (!me) return "";
    if (me.f[6] === DEAD) return "Respawning…";
    return `HP ${me.f[3]} · ${me.f[4]} frags · ${me.f[5]} deaths`;
  },
};
