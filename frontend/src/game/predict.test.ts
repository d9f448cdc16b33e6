import { eq, ok, test } from "../test/harness";
import { Predictor, step } from "./predict";

const rule = { speed: 100, radius: 200, w: 18000, h: 18000 };

test("step moves like the server (integer, clamped)", () => {
  eq(step(1000, 1000, 3, rule), [1100, 1000]);
  eq(step(1000, 1000, 2, rule), [1070, 930]);
  eq(step(250, 1000, 7, rule), [200, 1000]);
  eq(step(1000, 1000, 0, rule), [1000, 1000]);
});

test("prediction applies own moves at once", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, rule, false);
  p.advance(50, 3, rule, false);
  eq(p.position(), [1100, 1000]);
  p.advance(100, 3, rule, false);
  eq(p.position(), [1300, 1000]);
});

test("reconciliation with an agreeing server changes nothing", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, rule, false);
  for (let i = 0; i < 4; i++) p.advance(50, 3, rule, false);
  // The server has seen two of the four moves: 1200; replaying two more gives 1400.
  p.reconcile(1200, 1000, 2, rule, false);
  eq(p.position(), [1400, 1000]);
  eq(p.lastError, 0);
});

test("a correction is smoothed, not snapped, and converges", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, rule, false);
  p.reconcile(1300, 1000, 0, rule, false); // the server says 300 further
  eq(p.position(), [1000, 1000]); // no jump on the frame of the correction
  p.advance(16, 0, rule, false);
  const x1 = p.position()[0];
  ok(x1 > 1000 && x1 < 1300, `moves towards the server: ${x1}`);
  for (let i = 0; i < 60; i++) p.advance(16, 0, rule, false);
  ok(Math.abs(p.position()[0] - 1300) < 1, `converged: ${p.position()[0]}`);
});

test("a large correction (respawn) snaps", () => {
  const p = new Predictor(50);
  p.reconcile(1000, 1000, 0, rule, false);
  p.reconcile(9000, 9000, 0, rule, false);
  eq(p.position(), [9000, 9000]);
});
