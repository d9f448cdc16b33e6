import { eq, test } from "../test/harness";
import { limits, parseModes } from "./catalog";

test("catalog: names only leave the form at its defaults", () => {
  const m = parseModes({ modes: ["a", "b"] });
  eq(m, [{ name: "a" }, { name: "b" }]);
  eq(limits(m[0]), { min: 2, max: 64, size: 8 });
  eq(limits(undefined), { min: 2, max: 64, size: 8 });
});

test("catalog: declared sizes bound the form", () => {
  const m = parseModes({
    modes: [
      { name: "duel", title: "Duel", min_players: 2, max_players: 2, default_players: 2 },
      { name: "big", min_players: 6, max_players: 1000, default_max: 64 },
      { name: "solo", min_players: 1, max_players: 4 },
    ],
  });
  eq(m[0], { name: "duel", title: "Duel", min: 2, max: 2, size: 2 });
  eq(limits(m[0]), { min: 2, max: 2, size: 2 });
  eq(limits(m[1]), { min: 6, max: 1000, size: 64 });
  eq(limits(m[2]), { min: 2, max: 4, size: 4 });
});

test("catalog: malformed answers are ignored", () => {
  eq(parseModes(null), []);
  eq(parseModes({ modes: "x" }), []);
  eq(parseModes({ modes: [7, { title: "no name" }, { name: "ok", max_players: -3, min_players: 1.5 }] }), [
    { name: "ok", min: undefined, max: undefined, size: undefined },
  ]);
});
