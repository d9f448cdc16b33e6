import { test, eq, ok, rng, throws } from "../test/harness";
import { muxURL, toMuxFrame, type MuxFrame } from "./muxframe";
import { ProtocolError } from "./protocol";
import { streamEndOf } from "./transports/transport";

test("mux: a session's batch, a session's end, a heartbeat", () => {
  eq(toMuxFrame(JSON.parse(`{"sid":"s_A","batch":[{"seq":3,"type":"x.y","data":{"a":1}}]}`)), {
    kind: "batch",
    sid: "s_A",
    events: [{ seq: 3, type: "x.y", data: { a: 1 } }],
  });
  eq(toMuxFrame({ sid: "s_A", end: "gone" }), { kind: "end", sid: "s_A", reason: "gone" });
  eq(toMuxFrame([]), { kind: "beat" });
});

test("mux: malformed frames are protocol errors", () => {
  throws(() => toMuxFrame([{ seq: 1, type: "a", data: {} }]), /name its session/);
  throws(() => toMuxFrame({ batch: [] }), /no sid/);
  throws(() => toMuxFrame({ sid: "s_A" }), /neither/);
  throws(() => toMuxFrame({ sid: "s_A", batch: [{ seq: 0, type: "a" }] }), /seq/);
  throws(() => toMuxFrame("x"), /not an object/);
});

test("mux: a session's end is not the stream's end", () => {
  eq(streamEndOf({ end: "recycle" }), "recycle");
  eq(streamEndOf({ sid: "s_A", end: "replaced" }), null);
  eq(streamEndOf([]), null);
});

test("mux: the URL names every session with its last seq", () => {
  eq(
    muxURL("/comet", "sse", [
      ["s_A", 0],
      ["s_B", 12],
    ]),
    "/comet/mux/sse?s=s_A%3A0&s=s_B%3A12",
  );
});

/** anyValue builds a random JSON value, biased towards the shapes of mux frames. */
function anyValue(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 6 : 10));
  const word = () => ["sid", "batch", "end", "seq", "type", "data", "s_A", "", "gone", "x"][Math.floor(r() * 10)];
  switch (pick) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return [0, 1, -1, 1.5, 2 ** 53, NaN, 7][Math.floor(r() * 7)];
    case 3:
    case 4:
      return word();
    case 5:
      return [];
    case 6:
    case 7: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) o[word()] = anyValue(r, depth + 1);
      return o;
    }
    default: {
      const n = Math.floor(r() * 3);
      return Array.from({ length: n }, () => anyValue(r, depth + 1));
    }
  }
}

test("mux: any JSON value is a frame or a ProtocolError, never another failure", () => {
  const r = rng(14);
  let frames = 0;
  for (let i = 0; i < 20000; i++) {
    const v = anyValue(r);
    let f: MuxFrame;
    try {
      f = toMuxFrame(JSON.parse(JSON.stringify(v) ?? "null"));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw new Error(`${JSON.stringify(v)}: ${String(e)}`);
      continue;
    }
    frames++;
    if (f.kind === "beat") ok(Array.isArray(v) && v.length === 0, `beat from ${JSON.stringify(v)}`);
    else {
      ok(typeof f.sid === "string" && f.sid !== "", `sid of ${JSON.stringify(v)}`);
      if (f.kind === "batch") ok(f.events.every((e) => Number.isSafeInteger(e.seq) && e.seq > 0 && e.type !== ""), "events");
      else ok(f.reason !== "", "reason");
    }
  }
  ok(frames > 100, `only ${frames} of the random values were frames`);
});

test("mux: every frame the server may write reads back as itself", () => {
  const r = rng(7);
  for (let i = 0; i < 2000; i++) {
    const sid = "s_" + Math.floor(r() * 1e9).toString(36);
    let want: MuxFrame;
    if (r() < 0.1) want = { kind: "beat" };
    else if (r() < 0.3) want = { kind: "end", sid, reason: ["replaced", "ended", "gone", "shutdown"][Math.floor(r() * 4)] };
    else {
      let seq = 1 + Math.floor(r() * 1000);
      const events = Array.from({ length: Math.floor(r() * 5) }, () => ({
        seq: seq++,
        type: "t." + Math.floor(r() * 10),
        data: { n: r(), s: "</script>\u2028" },
      }));
      want = { kind: "batch", sid, events };
    }
    const wire =
      want.kind === "beat" ? "[]" : want.kind === "end" ? JSON.stringify({ sid, end: want.reason }) : JSON.stringify({ sid, batch: want.events });
    eq(toMuxFrame(JSON.parse(wire)), want, wire);
  }
});
