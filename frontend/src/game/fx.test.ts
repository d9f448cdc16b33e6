import { eq, ok, test } from "../test/harness";
import { Effects } from "./fx";

test("effects live for their ttl, with their age", () => {
  const fx = new Effects();
  fx.add({ kind: "flash", x: 1, y: 2, at: 1000, ttl: 100 });
  fx.add({ kind: "hit", x: 3, y: 4, at: 1050, ttl: 300 });
  eq(fx.live(1050).map(({ e, k }) => [e.kind, k]), [["flash", 0.5], ["hit", 0]]);
  eq(fx.live(1100).map(({ e }) => e.kind), ["hit"]);
  eq(fx.live(1350).length, 0);
});

test("screen shake decays to nothing, and a weaker shake does not cut a stronger one", () => {
  const fx = new Effects();
  fx.shake(10, 0);
  fx.shake(2, 10);
  ok(fx.shakeOffset(10).amp > 9, `amp ${fx.shakeOffset(10).amp}`);
  ok(fx.shakeOffset(150).amp < 6, "decays");
  eq(fx.shakeOffset(400), { dx: 0, dy: 0, amp: 0 });
  fx.shake(5, 500);
  fx.clear();
  eq(fx.shakeOffset(500).amp, 0);
});
