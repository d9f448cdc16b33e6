import { eq, ok, test } from "../test/harness";
import { Interpolator } from "./interp";

test("interpolator draws two ticks behind, between states", () => {
  const it = new Interpolator(50, 2);
  for (let t = 0; t <= 4; t++) it.push(t, new Map([[1, [t * 100, 0] as [number, number]]]), 1000 + t * 50);
  // At local 1200 the newest is tick 4; drawn at tick 2.
  eq(it.at(1, 1200), [200, 0]);
  // Halfway between ticks 2 and 3.
  eq(it.at(1, 1225), [250, 0]);
  ok(Math.abs(it.renderTick(1225) - 2.5) < 1e-9, "render tick 2.5");
});

test("interpolator holds the newest state when the stream is late", () => {
  const it = new Interpolator(50, 2);
  it.push(0, new Map([[1, [0, 0] as [number, number]]]), 0);
  it.push(1, new Map([[1, [100, 0] as [number, number]]]), 50);
  eq(it.at(1, 5000), [100, 0]);
  eq(it.at(2, 5000), null);
});

test("interpolator: an entity that appears is drawn where it appears", () => {
  const it = new Interpolator(50, 1);
  it.push(0, new Map(), 0);
  it.push(1, new Map([[7, [500, 500] as [number, number]]]), 50);
  eq(it.at(7, 75), [500, 500]);
});
