import { Effects } from "../game/fx";
import { View, type Entity } from "../game/view";
import { eq, ok, test } from "../test/harness";
import { colorOf, edgeMarkers, IT } from "./draw";
import type { DrawContext } from "./mode";

function context(ents: Entity[]): DrawContext {
  const canvas = document.createElement("canvas");
  canvas.width = 200;
  canvas.height = 100;
  const ctx = canvas.getContext("2d", { willReadFrequently: true }) as CanvasRenderingContext2D;
  const view = new View();
  for (const e of ents) view.ents.set(e.id, e);
  return {
    ctx, w: 200, h: 100, view, you: 1, cam: { scale: 1, ox: 0, oy: 0 },
    pos: (e) => [e.f[0], e.f[1]], tick: 0, present: 0, time: 0, fx: new Effects(),
  };
}

function pixel(dc: DrawContext, x: number, y: number): number[] {
  return [...dc.ctx.getImageData(x, y, 1, 1).data];
}

test("edgeMarkers points at players off the canvas, on the edge towards them", () => {
  const off: Entity = { id: 2, kind: "p", f: [900, 50], label: "far" };
  const on: Entity = { id: 3, kind: "p", f: [100, 50], label: "near" };
  const me: Entity = { id: 1, kind: "p", f: [600, 50], label: "me" }; // never marked
  const dc = context([off, on, me]);
  edgeMarkers(dc, [off, on, me], () => "#ff0000");
  const right = pixel(dc, 186, 50);
  ok(right[0] > 150 && right[1] < 60, `a red arrow at the right edge: ${right}`);
  eq(pixel(dc, 100, 50), [0, 0, 0, 0], "nothing on the on-screen player");
  eq(pixel(dc, 14, 50), [0, 0, 0, 0], "nothing on the left edge");
});

test("no player's colour is red, the colour of danger (tag's it)", () => {
  const hue = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    if (max === min) return 0;
    const h = max === r ? (g - b) / (max - min) : max === g ? 2 + (b - r) / (max - min) : 4 + (r - g) / (max - min);
    return ((h * 60) + 360) % 360;
  };
  ok(hue(IT) < 10 || hue(IT) > 350, `IT is red: hue ${hue(IT)}`);
  for (let n = 1; n <= 2000; n++) {
    const h = hue(colorOf(n));
    ok(h > 15 && h < 330, `player ${n} gets ${colorOf(n)} (hue ${h.toFixed(0)}), too close to red`);
  }
});
