import { eq, ok, rng, test } from "../test/harness";
import { decodeEntity, View, type DiffData, type WireEntity } from "./view";

test("decodeEntity with and without a label", () => {
  eq(decodeEntity([1, "p", 5, 6, "Ada"]), { id: 1, kind: "p", f: [5, 6], label: "Ada" });
  eq(decodeEntity([1048576, "w", 18000, 18000]), { id: 1048576, kind: "w", f: [18000, 18000] });
});

test("view applies a snapshot then diffs (add, change, remove)", () => {
  const v = new View();
  v.applySnapshot({ t: 0, m: "m1", e: [[1, "p", 10, 20, "Ada"], [1048576, "w", 100, 100]] });
  ok(v.applyDiff({ t: 2, b: 0, a: [[1048593, "s", 22, 20, 2]], c: [[1, 0, 23]] }), "diff applies");
  eq(v.ents.get(1)?.f, [23, 20]);
  eq(v.ents.get(1)?.label, "Ada");
  ok(v.applyDiff({ t: 3, b: 2, r: [1048593] }), "removal applies");
  ok(!v.ents.has(1048593), "removed");
  eq(v.tick, 3);
  eq(v.field(), { w: 100, h: 100 });
});

test("view refuses a diff with the wrong base and leaves state alone", () => {
  const v = new View();
  v.applySnapshot({ t: 5, m: "m1", e: [[1, "p", 10, 20, "Ada"]] });
  ok(!v.applyDiff({ t: 7, b: 6, c: [[1, 0, 99]] }), "gap refused");
  eq(v.ents.get(1)?.f, [10, 20]);
  ok(!v.applyDiff({ t: 6, b: 5, c: [[2, 0, 1]] }), "change of an unknown entity refused");
  eq(v.tick, 5);
  const empty = new View();
  ok(!empty.applyDiff({ t: 1, b: 0 }), "no snapshot yet");
});

// A random walk: snapshot + diffs, applied in order, equals the final state.
test("view: random diffs reproduce the final world", () => {
  const r = rng(7);
  const world = new Map<number, WireEntity>();
  for (let i = 1; i <= 5; i++) world.set(i, [i, "p", 0, 0, `P${i}`]);
  const v = new View();
  v.applySnapshot({ t: 0, m: "m", e: [...world.values()].map((e) => [...e]) });
  let tick = 0;
  let next = 100;
  for (let step = 0; step < 300; step++) {
    const d: DiffData = { t: tick + 1 + Math.floor(r() * 2), b: tick };
    const ids = [...world.keys()];
    const id = ids[Math.floor(r() * ids.length)];
    const roll = r();
    if (roll < 0.2 || ids.length < 3) {
      const e: WireEntity = [next++, "b", Math.floor(r() * 100), 1];
      world.set(e[0] as number, e);
      d.a = [[...e]];
    } else if (roll < 0.35) {
      world.delete(id);
      d.r = [id];
    } else {
      const e = world.get(id) as WireEntity;
      const v0 = Math.floor(r() * 1000);
      e[2] = v0;
      d.c = [[id, 0, v0]];
    }
    ok(v.applyDiff(d), `step ${step} applies`);
    tick = d.t;
  }
  const want = [...world.values()].map((e) => decodeEntity(e)).sort((a, b) => a.id - b.id);
  const got = [...v.ents.values()].sort((a, b) => a.id - b.id);
  eq(got, want);
});
