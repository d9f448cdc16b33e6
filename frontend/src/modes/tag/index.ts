// Tag: whoever is "it" chases the rest; touching passes it on. Score is the
// seconds you were not it.

import { colorOf, disc, field, frame, label, YOU } from "../draw";
import { moveOf, type ModeClient } from "../mode";

// Fields of "p": x y it frozen score.
const RADIUS = 200;

export const tag: ModeClient = {
  name: "tag",
  title: "Tag",
  blurb: "Don't be it. Touch someone to pass it on.",
  color: "#f472b6",
  help: "WASD / arrows move",
  moving: ["p"],
  pointer: false,

  input(c) {
    return { m: moveOf(c.dx, c.dy) };
  },

  rule(view, me, tickHz) {
    const f = view.field();
    if (!f) return null;
    const base = me.f[2] === 1 ? 121 : 110;
    return { speed: Math.trunc((base * 20) / tickHz), radius: RADIUS, w: f.w, h: f.h };
  },

  paused: (me) => me.f[3] === 1,

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 16000, h: 10000 };
    return frame(w, h, f.w, f.h, focus, 9 / RADIUS);
  },

  draw(dc) {
    const { ctx, cam, view } = dc;
    const f = view.field();
    if (f) field(ctx, cam, f.w, f.h, 1000, "rgba(244, 114, 182, 0.7)");
    const r = RADIUS * cam.scale;
    const players = view.ofKind("p");
    // "it" last, on top.
    players.sort((a, b) => a.f[2] - b.f[2]);
    for (const p of players) {
      const [wx, wy] = dc.pos(p);
      const x = cam.ox + wx * cam.scale;
      const y = cam.oy + wy * cam.scale;
      const me = p.id === dc.you;
      const it = p.f[2] === 1;
      if (it) {
        const pulse = 1 + 0.12 * Math.sin(dc.time / 120);
        disc(ctx, x, y, 2 * r * pulse, "rgba(248, 113, 113, 0.12)");
      }
      disc(ctx, x, y, r, it ? "#f87171" : me ? YOU : colorOf(p.id), it ? 22 : me ? 16 : 6);
      if (p.f[3] === 1) {
        ctx.strokeStyle = "rgba(186, 230, 253, 0.9)";
        ctx.lineWidth = 2;
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.arc(x, y, r + 4, 0, Math.PI * 2);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      if (me && !it) {
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(x, y, r + 3, 0, Math.PI * 2);
        ctx.stroke();
      }
      label(ctx, `${it ? "IT · " : ""}${p.label ?? "?"}`, x, y - r - 5, it ? "#fecaca" : me ? YOU : undefined);
    }
  },

  status(me) {
    if (!me) return "";
    if (me.f[2] === 1) return me.f[3] === 1 ? "You're it! (frozen)" : "You're it — tag someone!";
    return `Safe · ${me.f[4]} s`;
  },
};
