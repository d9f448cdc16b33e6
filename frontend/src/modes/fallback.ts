// The renderer for a mode this page has no renderer for (a server newer than
// the page): players (labeled entities) as discs at fields 0 and 1, scored
// by room.scores alone. It plays nothing and predicts nothing.

import { FIELD_ID } from "../game/view";
import { colorOf, disc, field, frame, label, YOU } from "./draw";
import { moveOf, type ModeClient } from "./mode";

export function fallback(name: string): ModeClient {
  return {
    name,
    title: name,
    blurb: "",
    color: "#94a3b8",
    help: "WASD / arrows move",
    moving: [],
    pointer: false,
    scoreLabel: "Score",
    score: () => 0,
    input: (c) => ({ m: moveOf(c.dx, c.dy) }),
    camera(view, w, h, focus) {
      const f = view.field() ?? { w: 1000, h: 1000 };
      return frame(w, h, f.w, f.h, focus, Math.min(w, h) / Math.max(f.w, f.h));
    },
    draw(dc) {
      const { ctx, cam, view } = dc;
      const f = view.field();
      if (f) field(ctx, cam, f.w, f.h, Math.max(1, Math.round(f.w / 16)), "rgba(148, 163, 184, 0.6)");
      for (const e of view.ents.values()) {
        if (e.id === FIELD_ID || e.f.length < 2) continue;
        const [x, y] = [cam.ox + e.f[0] * cam.scale, cam.oy + e.f[1] * cam.scale];
        const me = e.id === dc.you;
        disc(ctx, x, y, e.label !== undefined ? 8 : 4, me ? YOU : colorOf(e.id), me ? 12 : 0);
        if (e.label !== undefined) label(ctx, e.label, x, y - 10, me ? YOU : undefined);
      }
    },
    status: () => "",
  };
}
