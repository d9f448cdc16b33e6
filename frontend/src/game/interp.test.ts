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

/** poll delivers a 20 Hz stream in batches every 300 ms (plain polling), frames drawn at 60 fps. */
function playPolled(it: Interpolator, ms: number, draw: (now: number) => void): void {
  let sent = 0;
  for (let now = 0; now < ms; now += 1000 / 60) {
    if (Math.floor(now / 300) > Math.floor((now - 1000 / 60) / 300) || now === 0) {
      // Everything the server ticked up to now arrives at once.
      for (; sent * 50 <= now; sent++) it.push(sent, new Map([[1, [sent * 100, 0] as [number, number]]]), now);
    }
    draw(now);
  }
}

test("interpolator: the delay follows a polling transport's jitter, and nothing freezes", () => {
  const it = new Interpolator(50, 2);
  let lastX = -1;
  let frozen = 0;
  let lastTick = -Infinity;
  let maxStep = 0;
  playPolled(it, 8000, (now) => {
    it.frame(now);
    const t = it.renderTick(now);
    if (now > 3000) {
      ok(t >= lastTick, `the render clock went back at ${now}: ${t} < ${lastTick}`);
      maxStep = Math.max(maxStep, t - lastTick);
      const x = (it.at(1, now) as [number, number])[0];
      if (x <= lastX) frozen++;
      lastX = x;
    }
    lastTick = t;
  });
  ok(it.delay > 6 && it.delay < 9, `delay ${it.delay} ticks for 300 ms batches`);
  eq(frozen, 0, "frames that did not move");
  ok(maxStep < 0.4, `the clock jumped ${maxStep} ticks in one frame`);
});

test("interpolator: a streaming transport keeps the short delay", () => {
  const it = new Interpolator(50, 2);
  for (let t = 0; t < 100; t++) it.push(t, new Map(), t * 50 + (t % 3)); // 2 ms of jitter
  ok(it.delay >= 2 && it.delay < 2.1, `delay ${it.delay}`);
});
