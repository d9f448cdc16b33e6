// King of the hill: shove the others off the round hill in the middle;
// whoever stands on it alone scores a second per second. Move with WASD or
// arrows, aim with the mouse (or the way you move), click to shove.

import { eightWay } from "../../game/predict";
import { FIELD_ID } from "../../game/view";
import { colorOf, disc, edgeMarkers, field, frame, label, YOU } from "../draw";
import { moveOf, type ModeClient, type Tone } from "../mode";

// Fields of "w": w h hx hy hr king; of "p": x y aim cd stun score on.
// Lengths in tenths of a unit (gameloop/modes/koth/koth.go).
const RADIUS = 250;
const SPEED = 100; // per tick at 20 Hz
const REACH = 2 * RADIUS + 700;
const GOLD = "#facc15";

const SHOVE: Tone = [240, 0.09, "square", 0.05];
const SHOVED: Tone = [150, 0.18, "sawtooth", 0.05];
const CROWNED: Tone = [660, 0.3, "triangle", 0.07];

export const koth: ModeClient = {
  name: "koth",
  title: "King of the Hill",
  blurb: "Shove everyone off the hill. Stand on it alone to score.",
  color: "#f59e0b",
  help: "WASD / arrows move · mouse aims · click shoves",
  moving: ["p"],
  pointer: true,
  scoreLabel: "Seconds",
  score: (p) => p.f[5],

  input(c) {
    const data: Record<string, number | boolean> = { m: moveOf(c.dx, c.dy), f: c.fire };
    // Without a pointer or aim stick, the server aims the way the player moves.
    if (c.aim !== null) data.a = Math.round(c.aim);
    return data;
  },

  predict(view, _me, tickHz) {
    const f = view.field();
    return f ? eightWay(Math.trunc((SPEED * 20) / tickHz), RADIUS, f.w, f.h) : null;
  },

  // Shoved: sliding, not steering.
  paused: (me) => me.f[4] > 0,

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 12000, h: 12000 };
    return frame(w, h, f.w, f.h, focus, Math.min(w, h) / 7000);
  },

  changed(c) {
    if (c.snapshot) return;
    for (const p of c.view.ofKind("p")) {
      const was = c.before.get(p.id);
      if (was && p.f[3] > was.f[3]) {
        // A shove: cd jumped back to its maximum.
        c.fx.add({ kind: "shove", x: p.f[0], y: p.f[1], at: c.time, ttl: 260, id: p.id, a: (p.f[2] * Math.PI) / 180 });
        if (p.id === c.you) c.sound(SHOVE);
      }
    }
    const w = c.view.ents.get(FIELD_ID);
    const king = w?.f[5] ?? 0;
    const me = c.me;
    const prev = c.prevMe;
    if (me && prev && me.f[4] > 0 && prev.f[4] === 0) {
      c.sound(SHOVED);
      c.fx.shake(5, c.time);
    }
    // A new king (not the same one, and not after a contested moment).
    const k = king !== 0 ? c.view.ents.get(king) : undefined;
    if (k && prevKing.get(c.view) !== king) {
      c.feed(`${k.label ?? "?"} holds the hill`, king === c.you);
      if (king === c.you) c.sound(CROWNED);
    }
    if (king !== 0) prevKing.set(c.view, king);
  },

  draw(dc) {
    const { ctx, cam, view } = dc;
    const f = view.field();
    const w = view.ents.get(FIELD_ID);
    if (f) field(ctx, cam, f.w, f.h, 1000, "rgba(245, 158, 11, 0.7)");
    const S = (x: number, y: number): [number, number] => [cam.ox + x * cam.scale, cam.oy + y * cam.scale];
    const players = view.ofKind("p");
    const king = w?.f[5] ?? 0;
    if (w) {
      // The hill: gold, in the king's colour while someone holds it alone,
      // pulsing red while it is contested.
      const [hx, hy] = S(w.f[2], w.f[3]);
      const hr = w.f[4] * cam.scale;
      const on = players.filter((p) => p.f[6] === 1).length;
      const kp = king ? view.ents.get(king) : undefined;
      const tint = kp ? (king === dc.you ? YOU : colorOf(king)) : on > 1 ? "#ef4444" : GOLD;
      ctx.globalAlpha = on > 1 && !kp ? 0.16 + 0.08 * Math.sin(dc.time / 90) : 0.16;
      disc(ctx, hx, hy, hr, tint);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = tint;
      ctx.lineWidth = 3;
      ctx.setLineDash([10, 8]);
      ctx.beginPath();
      ctx.arc(hx, hy, hr, 0, Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    for (const { e, k } of dc.fx.live(dc.time)) {
      if (e.kind !== "shove") continue;
      const p = e.id !== undefined ? view.ents.get(e.id) : undefined;
      const [wx, wy] = p ? dc.pos(p) : [e.x, e.y];
      const [px, py] = S(wx, wy);
      const a = e.a ?? 0;
      ctx.fillStyle = `rgba(255, 237, 213, ${0.35 * (1 - k)})`;
      ctx.beginPath();
      ctx.moveTo(px, py);
      ctx.arc(px, py, REACH * cam.scale * (0.6 + 0.4 * k), a - Math.PI / 3, a + Math.PI / 3);
      ctx.closePath();
      ctx.fill();
    }
    const r = RADIUS * cam.scale;
    for (const p of players) {
      const [wx, wy] = dc.pos(p);
      const [x, y] = S(wx, wy);
      const me = p.id === dc.you;
      const color = me ? YOU : colorOf(p.id);
      const a = (p.f[2] * Math.PI) / 180;
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.max(2, r * 0.3);
      ctx.lineCap = "round";
      ctx.beginPath();
      ctx.moveTo(x + Math.cos(a) * r, y + Math.sin(a) * r);
      ctx.lineTo(x + Math.cos(a) * r * 1.6, y + Math.sin(a) * r * 1.6);
      ctx.stroke();
      ctx.lineCap = "butt";
      disc(ctx, x, y, r, color, me ? 16 : 6);
      if (p.f[4] > 0) {
        // Shoved: a spinning dashed ring.
        ctx.strokeStyle = "rgba(255, 255, 255, 0.8)";
        ctx.lineWidth = 2;
        ctx.setLineDash([3, 4]);
        ctx.lineDashOffset = -dc.time / 20;
        ctx.beginPath();
        ctx.arc(x, y, r + 4, 0, Math.PI * 2);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.lineDashOffset = 0;
      }
      if (me) {
        ctx.strokeStyle = "rgba(255,255,255,0.9)";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(x, y, r + 3, 0, Math.PI * 2);
        ctx.stroke();
      }
      const crown = p.id === king ? "♛ " : "";
      label(ctx, `${crown}${p.label ?? "?"}${p.f[5] ? ` · ${p.f[5]}` : ""}`, x, y - r - 5, p.id === king ? GOLD : me ? YOU : undefined);
    }
    edgeMarkers(dc, players, (p) => (p.id === king ? GOLD : colorOf(p.id)));
  },

  status(me) {
    if (!me) return "";
    const where = me.f[4] > 0 ? "Shoved!" : me.f[6] === 1 ? "On the hill" : "Off the hill";
    return `${where} · ${me.f[5]} s as king`;
  },
};

/** The last king each view had, so a contested moment does not announce the same king again. */
const prevKing = new WeakMap<object, number>();
