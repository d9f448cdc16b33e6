import { test, eq, ok } from "../test/harness";
import { Backoff, jittered } from "./backoff";

test("backoff: doubles from 0.5 s to a 10 s cap without jitter", () => {
  const b = new Backoff({ random: () => 0.5 }); // factor exactly 1
  const got = Array.from({ length: 8 }, () => b.next());
  eq(got, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  eq(b.attempts, 8);
});

test("backoff: jitter stays within ±50 %", () => {
  for (const [r, want] of [
    [0, [250, 500, 1000]],
    [0.999999, [750, 1500, 3000]],
  ] as const) {
    const b = new Backoff({ random: () => r });
    eq([b.next(), b.next(), b.next()], [...want], `random ${r}`);
  }
  const b = new Backoff();
  for (let i = 0; i < 200; i++) {
    const d = b.next();
    const cap = Math.min(10000, 500 * 2 ** Math.min(i, 30));
    ok(d >= cap * 0.5 && d <= cap * 1.5, `delay ${i} = ${d}, cap ${cap}`);
  }
});

test("backoff: reset starts over; huge attempt counts do not overflow", () => {
  const b = new Backoff({ random: () => 0.5 });
  for (let i = 0; i < 5000; i++) b.next();
  eq(b.next(), 10000);
  b.reset();
  eq(b.next(), 500);
});

test("backoff: options", () => {
  const b = new Backoff({ baseMs: 100, maxMs: 300, jitter: 0, random: () => 0 });
  eq([b.next(), b.next(), b.next(), b.next()], [100, 200, 300, 300]);
});

test("jittered: spread", () => {
  eq(jittered(1000, 0.25, () => 0), 750);
  eq(jittered(1000, 0.25, () => 0.5), 1000);
  eq(jittered(1000, 0.25, () => 1), 1250);
});
