// Tag: whoever is "it" chases the rest; touching passes it on. Score is the
// seconds you were not it. "It" is drawn unlike anyone else: a red disc with
// a white ring, a halo and "IT" on it (red is in no player's palette).

import { eightWay } from "../../game/predict";
import { colorOf, disc, edgeMarkers, field, frame, IT, label, YOU } from "../draw";
import { moveOf, type ModeClient, type Tone } from "../mode";

// Fields of "p": x y it frozen score.
const RADIUS = 200;
const TAGGED: Tone = [320, 0.2, "triangle", 0.08];

export const tag: ModeClient = {
  name: "tag",
  title: "Tag",
  blurb: "Don't be it. Touch someone to pass it on.",
  color: "#f472b6",
  help: "WASD / arrows move",
  moving: ["p"],
  pointer: false,
  scoreLabel: "Seconds",
  score: (p) => p.f[4],

  input(c) {
    return { m: moveOf(c.dx, c.dy) };
  },

  predict(view, me, tickHz) {
    const f = view.field();
    if (!f) return null;
    const base = me.f[2] === 1 ? 121 : 110;
    return eightWay(Math.trunc((base * 20) / tickHz), RADIUS, f.w, f.h);
  },

  paused: (me) => me.f[3] === 1,

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 16000, h: 10000 };
    return frame(w, h, f.w, f.h, focus, 9 / RADIUS);
  },

  changed(c) {
    if (c.snapshot) return;
    if (c.me && c.prevMe && c.me.f[2] !== c.prevMe.f[2]) c.sound(TAGGED);
    let from: string | undefined;
    let to: { id: number; name: string } | undefined;
    for (const p of c.view.ofKind("p")) {
      const was = c.before.get(p.id);
      if (!was) continue;
      if (was.f[2] === 1 && p.f[2] !== 1) from = p.label;
      if (was.f[2] !== 1 && p.f[2] === 1) to = { id: p.id, name: p.label ?? "?" };
    }
    if (to) {
      c.feed(from ? `${from} tagged ${to.name}` : `${to.name} is it`, to.id === c.you);
      const p = c.view.ents.get(to.id);
      if (p) c.fx.add({ kind: "tagged", x: p.f[0], y: p.f[1], at: c.time, ttl: 600, id: to.id });
      if (to.id === c.you) c.fx.shake(6, c.time);
    }
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
        const pulse = 1 + 0.15 * Math.sin(dc.time / 120);
        disc(ctx, x, y, 2.2 * r * pulse, "rgba(239, 68, 68, 0.16)");
        disc(ctx, x, y, r * 1.25, "#ffffff", 0);
      }
      disc(ctx, x, y, r, it ? IT : me ? YOU : colorOf(p.id), it ? 26 : me ? 16 : 6);
      if (it) {
        ctx.font = `800 ${Math.max(9, Math.round(r * 0.8))}px Inter, system-ui, sans-serif`;
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillStyle = "#ffffff";
        ctx.fillText("IT", x, y + 1);
      }
      if (p.f[3] === 1) {
        ctx.strokeStyle = "rgba(186, 230, 253, 0.9)";
        ctx.lineWidth = 2;
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.arc(x, y, r * 1.25 + 4, 0, Math.PI * 2);
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
      label(ctx, `${it ? "IT · " : ""}${p.label ?? "?"}`, x, y - r * (it ? 1.25 : 1) - 5, it ? "#fecaca" : me ? YOU : undefined);
    }
    edgeMarkers(dc, players, (p) => (p.f[2] === 1 ? IT : colorOf(p.id)));
    for (const { e, k } of dc.fx.live(dc.time)) {
      if (e.kind !== "tagged") continue;
      const p = e.id !== undefined ? view.ents.get(e.id) : undefined;
      const [wx, wy] = p ? dc.pos(p) : [e.x, e.y];
      ctx.strokeStyle = `rgba(239, 68, 68, ${1 - k})`;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(cam.ox + wx * cam.scale, cam.oy + wy * cam.scale, r * (1.3 + 2.5 * k), 0, Math.PI * 2);
      ctx.stroke();
    }
  },

  status(me) {
    if (!me) return "";
    if (me.f[2] === 1) return me.f[3] === 1 ? "You're it! (frozen)" : "You're it — tag someone!";
    return `Safe · ${me.f[4]} s`;
  },
};
