import { eq, ok, test } from "../test/harness";
import { eightWay, Predictor } from "./predict";

const step = eightWay(100, 200, 18000, 18000);
const right = { m: 3 };

test("eightWay steps like the server (integer, clamped)", () => {
  eq(step(1000, 1000, { m: 3 }), [1100, 1000]);
  eq(step(1000, 1000, { m: 2 }), [1070, 930]);
  eq(step(250, 1000, { m: 7 }), [200, 1000]);
  eq(step(1000, 1000, { m: 0 }), [1000, 1000]);
  eq(step(1000, 1000, null), [1000, 1000]);
});

test("prediction applies own inputs at once, drawn on the way to the next tick", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  p.advance(50, right, step, false);
  eq(p.latest(), [1100, 1000]);
  eq(p.position(), [1100, 1000]);
  p.advance(25, right, step, false);
  eq(p.position(), [1150, 1000]); // half way to the next tick's position
  p.advance(75, right, step, false);
  eq(p.latest(), [1300, 1000]);
  eq(p.position(), [1300, 1000]);
});

test("releasing a key mid-tick does not snap back", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  p.advance(25, right, step, false);
  eq(p.position(), [1050, 1000]);
  p.advance(0, null, step, false);
  eq(p.position(), [1050, 1000]);
  for (let i = 0; i < 60; i++) p.advance(16, null, step, false);
  ok(Math.abs(p.position()[0] - 1000) < 1, `settles where the server will have it: ${p.position()[0]}`);
});

test("prediction moves every frame while a key is held", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  let last = p.position()[0];
  for (let i = 0; i < 120; i++) {
    p.advance(1000 / 60, right, step, false);
    const x = p.position()[0];
    ok(x > last, `frame ${i}: x ${x} did not move from ${last}`);
    last = x;
  }
});

test("reconciliation with an agreeing server changes nothing", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  for (let i = 0; i < 4; i++) p.advance(50, right, step, false);
  const drawn = p.position();
  // The server has seen two of the four moves: 1200; replaying two more gives 1400.
  p.reconcile(1200, 1000, 2, step, false);
  eq(p.latest(), [1400, 1000]);
  eq(p.position(), drawn);
  eq(p.lastError, 0);
});

test("a correction is smoothed, not snapped, and converges", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  p.reconcile(1300, 1000, 0, step, false); // the server says 300 further
  eq(p.position(), [1000, 1000]); // no jump on the frame of the correction
  p.advance(16, null, step, false);
  const x1 = p.position()[0];
  ok(x1 > 1000 && x1 < 1300, `moves towards the server: ${x1}`);
  for (let i = 0; i < 60; i++) p.advance(16, null, step, false);
  ok(Math.abs(p.position()[0] - 1300) < 1, `converged: ${p.position()[0]}`);
});

test("a large correction (respawn) snaps", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  p.reconcile(9000, 9000, 0, step, false);
  eq(p.position(), [9000, 9000]);
});

test("paused, the prediction stands still", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  p.advance(200, right, step, true);
  eq(p.latest(), [1000, 1000]);
});

test("a correction against the motion slows the player, never stops it", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, step, false);
  for (let i = 0; i < 6; i++) p.advance(1000 / 60, right, step, false);
  // The server skipped ticks: it is 300 behind what was predicted.
  const [x] = p.latest();
  p.reconcile(x - 300, 1000, 0, step, false);
  let last = p.position()[0];
  for (let i = 0; i < 60; i++) {
    p.advance(1000 / 60, right, step, false);
    const now = p.position()[0];
    ok(now > last, `frame ${i}: ${now} after ${last}`);
    last = now;
  }
  // Standing, the rest of the error goes.
  for (let i = 0; i < 120; i++) p.advance(1000 / 60, null, step, false);
  const [lx] = p.latest();
  ok(Math.abs(p.position()[0] - lx) < 1, `converged: drawn ${p.position()[0]}, predicted ${lx}`);
});
