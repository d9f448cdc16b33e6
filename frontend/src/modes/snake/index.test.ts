import { Effects } from "../../game/fx";
import { View } from "../../game/view";
import { ok, test } from "../../test/harness";
import type { DrawContext } from "../mode";
import { snake } from "./index";

/** draws a snake heading right, head at cell (5, 5), its neck at (4, 5), at present = tick + k. */
function drawAt(k: number): CanvasRenderingContext2D {
  const canvas = document.createElement("canvas");
  canvas.width = 120;
  canvas.height = 100;
  const ctx = canvas.getContext("2d", { willReadFrequently: true }) as CanvasRenderingContext2D;
  const view = new View();
  view.applySnapshot({
    t: 10, m: "m1", e: [
      [1048576, "w", 12, 10],
      [1, "p", 5, 5, 1, 3, 1, "Ada"],
      [1048577, "s", 3, 5, 1],
      [1048578, "s", 4, 5, 1],
    ],
  });
  const dc: DrawContext = {
    ctx, w: 120, h: 100, view, you: 2, cam: { scale: 10, ox: 0, oy: 0 },
    pos: (e) => [e.f[0], e.f[1]], tick: 10 + k - 2, present: 10 + k, time: 0, fx: new Effects(),
  };
  snake.draw(dc);
  return ctx;
}

const lit = (ctx: CanvasRenderingContext2D, x: number, y: number) => {
  const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
  return r + g + b > 200; // the field is dark; a snake is bright
};

test("snake: the head glides from its last cell into the new one over a tick", () => {
  // Cell 5 spans x 50…60. Half a tick in, the head spans 45…55.
  const half = drawAt(0.5);
  ok(lit(half, 52, 55), "half way: the head covers the border of the two cells");
  ok(!lit(half, 58, 55), "half way: the new cell's far side is still empty");
  const done = drawAt(1);
  ok(lit(done, 58, 55), "a tick later: the head fills its new cell");
});
