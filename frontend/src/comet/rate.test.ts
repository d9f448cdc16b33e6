import { test, eq } from "../test/harness";
import { RateMeter } from "./rate";

test("rate: mean per second over the window, old buckets expire", () => {
  let now = 10_000;
  const r = new RateMeter(5, () => now);
  r.add(10);
  now += 1000;
  r.add(20);
  eq(r.rate(), 6); // 30 over 5 s
  eq(r.total, 30);
  now += 4000; // the first bucket (t=10 s) leaves the window
  eq(r.rate(), 4);
  now += 60_000;
  eq(r.rate(), 0);
  eq(r.total, 30);
});
