// Arena: a top-down shooter. Move with WASD or arrows, aim with the mouse,
// hold the button to fire. Bullets never change after they appear, so their
// positions are computed every frame from (x, y, dx, dy, t): other players'
// at the interpolated tick, your own at the present tick, so they leave your
// (predicted) gun without lag. Hits, kills and shots are derived from the
// diffs: hit markers, a kill feed, a death card and muzzle flashes.

import { eightWay } from "../../game/predict";
import type { Entity } from "../../game/view";
import { colorOf, disc, edgeMarkers, field, frame, label, YOU } from "../draw";
import { moveOf, type Changes, type ModeClient, type Tone } from "../mode";

// Fields of "p": x y aim hp frags deaths state; of "b": x y dx dy t owner.
const RADIUS = 200;
const DEAD = 1;
const PROTECTED = 2;

const SHOT: Tone = [660, 0.05, "square", 0.03];
const HURT: Tone = [180, 0.12, "sawtooth", 0.05];
const HITMARK: Tone = [1320, 0.04, "square", 0.025];
const FRAG: Tone = [880, 0.08, "sine", 0.06];

export const arena: ModeClient = {
  name: "arena",
  title: "Arena",
  blurb: "Fast top-down shootout. First to 20 frags wins.",
  color: "#60a5fa",
  help: "WASD / arrows move · mouse aims · click fires",
  moving: ["p"],
  pointer: true,
  scoreLabel: "Frags",
  score: (p) => p.f[4],

  input(c, me) {
    // The server needs an aim on every input: without a pointer, keep the current one.
    return { m: moveOf(c.dx, c.dy), a: Math.round(c.aim ?? me?.f[2] ?? 0), f: c.fire };
  },

  predict(view, _me, tickHz) {
    const f = view.field();
    return f ? eightWay(Math.trunc(2000 / tickHz), RADIUS, f.w, f.h) : null;
  },

  paused: (me) => me.f[6] === DEAD,

  camera(view, w, h, focus) {
    const f = view.field() ?? { w: 18000, h: 18000 };
    // About 900 units across the smaller side: the area a player sees.
    return frame(w, h, f.w, f.h, focus, Math.min(w, h) / 9500);
  },

  changed(c) {
    if (c.snapshot) {
      if (c.me && c.me.f[6] !== DEAD) c.card(null);
      return;
    }
    for (const b of c.added) {
      if (b.kind !== "b") continue;
      // Muzzle flash where the bullet leaves its owner.
      c.fx.add({ kind: "flash", x: b.f[0], y: b.f[1], at: c.time, ttl: 90, a: Math.atan2(b.f[3], b.f[2]), id: b.f[5] });
      if (b.f[5] === c.you) c.sound(SHOT);
    }
    kills(c);
    const me = c.me;
    const prev = c.prevMe;
    if (!me || !prev || me.id !== prev.id) return;
    if (me.f[3] < prev.f[3]) {
      c.sound(HURT);
      c.fx.shake(me.f[6] === DEAD ? 9 : 4, c.time);
    }
    if (me.f[4] > prev.f[4]) c.sound(FRAG);
    if (me.f[6] !== DEAD && prev.f[6] === DEAD) c.card(null);
  },

  draw(dc) {
    const { ctx, cam, view } = dc;
    const f = view.field();
    if (f) field(ctx, cam, f.w, f.h, 1000, "rgba(96, 165, 250, 0.7)");
    const S = (x: number, y: number): [number, number] => [cam.ox + x * cam.scale, cam.oy + y * cam.scale];

    for (const b of view.ofKind("b")) {
      const mine = b.f[5] === dc.you;
      const dt = (mine ? dc.present : dc.tick) - b.f[4];
      if (dt < 0) continue;
      const [x, y] = S(b.f[0] + b.f[2] * dt, b.f[1] + b.f[3] * dt);
      const [tx, ty] = S(b.f[0] + b.f[2] * (dt - 0.6), b.f[1] + b.f[3] * (dt - 0.6));
      ctx.strokeStyle = mine ? "rgba(255, 209, 102, 0.5)" : "rgba(248, 113, 113, 0.45)";
      ctx.lineWidth = Math.max(2, 50 * cam.scale);
      ctx.beginPath();
      ctx.moveTo(tx, ty);
      ctx.lineTo(x, y);
      ctx.stroke();
      disc(ctx, x, y, Math.max(2.5, 55 * cam.scale), mine ? YOU : "#fca5a5", 10);
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

    edgeMarkers(dc, view.ofKind("p").filter((p) => p.f[6] !== DEAD), (p) => colorOf(p.id));

    for (const { e, k } of dc.fx.live(dc.time)) {
      if (e.kind === "flash") {
        // At the owner as drawn now, at the tip of its gun.
        const owner = e.id !== undefined ? view.ents.get(e.id) : undefined;
        const [ox, oy] = owner ? dc.pos(owner) : [e.x, e.y];
        const a = e.a ?? 0;
        const [x, y] = S(ox + Math.cos(a) * RADIUS * 1.6, oy + Math.sin(a) * RADIUS * 1.6);
        disc(ctx, x, y, Math.max(4, r * 0.7) * (1 - k * 0.6), `rgba(255, 236, 179, ${1 - k})`, 16);
      } else if (e.kind === "hit") {
        // A hit marker: an X on the player you hit.
        const target = e.id !== undefined ? view.ents.get(e.id) : undefined;
        const [hx, hy] = target ? dc.pos(target) : [e.x, e.y];
        const [x, y] = S(hx, hy);
        const s = Math.max(7, r * 0.9) * (1 + k * 0.4);
        ctx.strokeStyle = e.text === "kill" ? `rgba(248, 113, 113, ${1 - k})` : `rgba(255, 255, 255, ${1 - k})`;
        ctx.lineWidth = 2.5;
        ctx.beginPath();
        for (const [sx, sy] of [[1, 1], [1, -1], [-1, 1], [-1, -1]]) {
          ctx.moveTo(x + sx * s * 0.45, y + sy * s * 0.45);
          ctx.lineTo(x + sx * s, y + sy * s);
        }
        ctx.stroke();
      }
    }
  },

  status(me) {
    if (!me) return "";
    if (me.f[6] === DEAD) return "Respawning…";
    return `HP ${me.f[3]} · ${me.f[4]} frags · ${me.f[5]} deaths`;
  },
};

/**
 * kills finds this tick's hits and frags: a player whose hp dropped was hit;
 * your bullet that vanished next to them makes it your hit (a marker); a
 * player who died was fragged by the player whose frags went up this tick.
 */
function kills(c: Changes): void {
  const hits: Entity[] = [];
  const died: Entity[] = [];
  const scorers: Entity[] = [];
  for (const p of c.view.ofKind("p")) {
    const was = c.before.get(p.id);
    if (!was) continue;
    if (p.f[3] < was.f[3]) hits.push(p);
    if (p.f[6] === DEAD && was.f[6] !== DEAD) died.push(p);
    if (p.f[4] > was.f[4]) scorers.push(p);
  }
  for (const p of hits) {
    if (p.id === c.you) continue;
    if (hitByMe(c, p)) {
      c.fx.add({ kind: "hit", x: p.f[0], y: p.f[1], at: c.time, ttl: 350, id: p.id, text: p.f[6] === DEAD ? "kill" : "" });
      c.sound(HITMARK);
    }
  }
  for (const v of died) {
    // Bullets move faster than players: the nearest scorer is the shooter.
    let killer: Entity | undefined;
    let best = Infinity;
    for (const s of scorers) {
      const d = Math.hypot(s.f[0] - v.f[0], s.f[1] - v.f[1]);
      if (d < best) [killer, best] = [s, d];
    }
    const kn = killer?.label ?? "someone";
    c.feed(`${kn} ⟶ ${v.label ?? "?"}`, v.id === c.you || killer?.id === c.you);
    if (v.id === c.you) c.card("You were fragged", killer ? `by ${kn} · respawning…` : "respawning…");
  }
}

/** hitByMe says whether one of your bullets vanished within reach of p this tick. */
function hitByMe(c: Changes, p: Entity): boolean {
  for (const b of c.removed) {
    if (b.kind !== "b" || b.f[5] !== c.you) continue;
    const dt = c.view.tick - b.f[4];
    const bx = b.f[0] + b.f[2] * dt;
    const by = b.f[1] + b.f[3] * dt;
    if (Math.hypot(bx - p.f[0], by - p.f[1]) < RADIUS * 4) return true;
  }
  return false;
}
