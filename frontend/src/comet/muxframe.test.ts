import { test, eq, throws } from "../test/harness";
import { muxURL, toMuxFrame } from "./muxframe";
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
