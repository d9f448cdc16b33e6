import { test, eq, ok, throws } from "../test/harness";
import { Outbox, utf8Length } from "./outbox";

test("outbox: numbers events 1, 2, 3 and sends one batch at a time", () => {
  const o = new Outbox();
  eq([o.push("a", { x: 1 }), o.push("b", undefined), o.push("c", [1])], [1, 2, 3]);
  const b = o.take();
  ok(b, "first take");
  eq(b.body, '[{"seq":1,"type":"a","data":{"x":1}},{"seq":2,"type":"b","data":{}},{"seq":3,"type":"c","data":[1]}]');
  eq(JSON.parse(b.body), b.events);
  o.push("d", 4);
  eq(o.take(), null, "one in flight");
  o.settle(true);
  const b2 = o.take();
  eq(b2?.events.map((e) => e.seq), [4]);
  o.settle(true);
  eq(o.take(), null, "empty");
  eq(o.pending, 0);
});

test("outbox: a failed batch is resent unchanged, before newer events", () => {
  const o = new Outbox();
  o.push("a", 1);
  o.push("b", 2);
  const first = o.take();
  o.push("c", 3);
  o.settle(false);
  const again = o.take();
  eq(again?.body, first?.body);
  o.settle(true);
  eq(o.take()?.events.map((e) => e.seq), [3]);
});

test("outbox: at most 64 events per POST", () => {
  const o = new Outbox();
  for (let i = 0; i < 150; i++) o.push("n", i);
  const sizes: number[] = [];
  for (let b = o.take(); b; b = o.take()) {
    sizes.push(b.events.length);
    o.settle(true);
  }
  eq(sizes, [64, 64, 22]);
});

test("outbox: at most 16 KiB per POST, counted in UTF-8", () => {
  const o = new Outbox();
  const text = "é".repeat(3000); // 6000 bytes in UTF-8, 3000 UTF-16 units
  for (let i = 0; i < 5; i++) o.push("chat.say", { text });
  const sizes: number[] = [];
  for (let b = o.take(); b; b = o.take()) {
    ok(utf8Length(b.body) <= 16384, `body of ${utf8Length(b.body)} bytes`);
    eq(utf8Length(b.body), new TextEncoder().encode(b.body).length, "utf8Length");
    sizes.push(b.events.length);
    o.settle(true);
  }
  eq(sizes, [2, 2, 1]);
});

test("outbox: refuses an event too large alone, and a full queue", () => {
  const o = new Outbox({ maxQueued: 3 });
  throws(() => o.push("big", "x".repeat(17000)), /over the 16384-byte limit/);
  o.push("a", 1);
  o.push("b", 2);
  o.push("c", 3);
  throws(() => o.push("d", 4), /outbox full/);
  eq(o.pending, 3);
});

test("outbox: discard drops a refused batch", () => {
  const o = new Outbox();
  o.push("a", 1);
  o.push("b", 2);
  o.take();
  eq(o.discard().map((e) => e.type), ["a", "b"]);
  eq(o.take(), null);
  eq(o.pending, 0);
});

test("outbox: renumber for a new session keeps order and restarts at 1", () => {
  const o = new Outbox();
  for (let i = 0; i < 5; i++) o.push("n", i);
  o.take(); // seqs 1..5 in flight to the old session
  o.push("n", 5);
  const epoch = o.epoch;
  o.renumber();
  ok(o.epoch !== epoch, "epoch changes");
  ok(!o.busy, "nothing in flight after renumber");
  const b = o.take();
  eq(b?.events.map((e) => [e.seq, e.data]), [[1, 0], [2, 1], [3, 2], [4, 3], [5, 4], [6, 5]]);
  o.settle(true);
  eq(o.push("n", 6), 7);
});

test("outbox: renumber drops events in doubt unless resend says otherwise, keeps the queue", () => {
  const o = new Outbox();
  o.push("room.create", 1);
  o.push("chat.say", 2);
  o.takeMessage(); // both sent over a socket, never acknowledged
  o.push("room.input", 3);
  o.take(); // in a POST that never got an answer
  o.push("room.join", 4); // never sent
  eq(o.renumber((type) => type.startsWith("chat.")), 2);
  eq(o.take()?.events.map((e) => [e.seq, e.type]), [
    [1, "chat.say"],
    [2, "room.join"],
  ]);
});

test("utf8Length", () => {
  for (const s of ["", "abc", "é", "€", "😀", "a😀b", "\ud800", "\udc00x"]) {
    eq(utf8Length(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
});

test("outbox: socket messages go out without waiting, up to 64 unacknowledged events", () => {
  const o = new Outbox();
  for (let i = 0; i < 100; i++) o.push("n", i);
  const m1 = o.takeMessage();
  eq(m1?.events.length, 64, "first message fills the window");
  eq(o.takeMessage(), null, "window full until acknowledged");
  eq([o.unacked, o.pending, o.newestUnacked], [64, 100, 64]);
  o.ack(10);
  const m2 = o.takeMessage();
  eq(m2?.events.map((e) => e.seq), [65, 66, 67, 68, 69, 70, 71, 72, 73, 74], "ten acknowledged, ten more sent");
  o.ack(74);
  eq(o.unacked, 0);
  eq(o.takeMessage()?.events.map((e) => e.seq)[0], 75);
});

test("outbox: what a broken socket left unacknowledged is sent again first, same seqs", () => {
  const o = new Outbox();
  o.push("a", 1);
  o.push("b", 2);
  const m = o.takeMessage();
  o.push("c", 3);
  o.requeue();
  const again = o.take(); // now over POST
  eq(again?.events.map((e) => e.seq), [1, 2, 3]);
  ok(again?.body.startsWith(m?.body.slice(0, -1) ?? "x"), "same encoding of 1 and 2");
  o.settle(false);
  // The socket is back: the failed POST's batch goes first, as one message.
  eq(o.takeMessage()?.events.map((e) => e.seq), [1, 2, 3]);
  eq(o.take(), null, "nothing left for a POST while the socket holds it");
  o.ack(3);
  eq(o.pending, 0);
});

test("outbox: no socket message while a POST is in flight", () => {
  const o = new Outbox();
  o.push("a", 1);
  ok(o.take(), "POST out");
  o.push("b", 2);
  eq(o.takeMessage(), null);
  o.settle(true);
  eq(o.takeMessage()?.events.map((e) => e.seq), [2]);
});

test("outbox: renumber keeps unacknowledged socket events, oldest first", () => {
  const o = new Outbox();
  o.push("a", 1);
  o.takeMessage();
  o.push("b", 2);
  o.renumber();
  eq(o.unacked, 0);
  eq(o.take()?.events.map((e) => [e.seq, e.type]), [
    [1, "a"],
    [2, "b"],
  ]);
});

test("outbox: stalledMs counts from the last progress while events wait", () => {
  let now = 1000;
  const o = new Outbox({ now: () => now });
  eq(o.stalledMs(), 0, "nothing waits");
  o.push("a", 1);
  now += 300;
  eq(o.stalledMs(), 300, "waiting since it was queued");
  o.take();
  o.settle(false); // a POST that failed is no progress
  now += 900;
  eq(o.stalledMs(), 1200);
  o.take();
  o.settle(true);
  eq(o.stalledMs(), 0, "taken: nothing waits");
  o.push("b", 2);
  o.push("c", 3);
  o.takeMessage();
  now += 500;
  o.ack(2); // the socket's acknowledgement is progress
  eq(o.stalledMs(), 0, "c still waits, but the server just took b");
  now += 700;
  eq(o.stalledMs(), 700);
});

test("outbox: dropQueued drops queued events of one type, never what is out, and keeps the rest in order", () => {
  const o = new Outbox();
  o.push("room.input", { x: 1 });
  const out = o.take();
  o.push("room.input", { x: 2 });
  o.push("chat.say", { text: "hi" });
  o.push("room.input", { x: 3 });
  o.push("chat.say", { text: "again" });
  eq(o.dropQueued("room.input"), 2);
  eq(o.pending, 3);
  o.settle(false);
  eq(o.take()?.body, out?.body, "the batch out is resent as is");
  o.settle(true);
  eq(o.take()?.events.map((e) => [e.seq, e.type]), [
    [3, "chat.say"],
    [5, "chat.say"],
  ]);
});
