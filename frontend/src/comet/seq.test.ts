import { test, eq } from "../test/harness";
import { SeqFilter } from "./seq";

test("seq: accepts each seq once, in order, and drops repeats", () => {
  const f = new SeqFilter();
  const input = [1, 2, 2, 1, 3, 4, 3, 5];
  const got = input.filter((s) => f.accept(s));
  eq(got, [1, 2, 3, 4, 5]);
  eq(f.last, 5);
  eq(f.duplicates, 3);
  eq(f.gaps, 0);
});

test("seq: a replay after reconnect delivers only the new tail", () => {
  const f = new SeqFilter();
  [1, 2, 3].forEach((s) => f.accept(s));
  // The server resends from an older cursor (overlap) plus new events.
  const got = [2, 3, 4, 5].filter((s) => f.accept(s));
  eq(got, [4, 5]);
});

test("seq: gaps are counted but delivered (sys.reset follows an overflow)", () => {
  const f = new SeqFilter();
  eq([1, 2, 9, 10].map((s) => f.accept(s)), [true, true, true, true]);
  eq(f.gaps, 1);
  eq(f.accept(8), false);
});

test("seq: reset for a new session", () => {
  const f = new SeqFilter();
  [1, 2, 3].forEach((s) => f.accept(s));
  f.reset();
  eq(f.last, 0);
  eq(f.accept(1), true);
});
