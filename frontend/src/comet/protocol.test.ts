import { test, eq, throws } from "../test/harness";
import { endOf, HTTP_TRANSPORTS, isTransport, parseBatch, parseFrame, toSession, transportFromSearch } from "./protocol";

test("protocol: parseFrame tells batches from end frames", () => {
  eq(parseFrame("[]"), { events: [] });
  eq(parseFrame('[{"seq":4,"type":"x","data":{}}]'), { events: [{ seq: 4, type: "x", data: {} }] });
  for (const r of ["recycle", "replaced", "ended", "shutdown"]) eq(parseFrame(`{"end":"${r}"}`), { end: r });
  throws(() => parseFrame('{"end":""}'), /not a JSON array/);
  throws(() => parseFrame("{"), /not JSON/);
  eq(endOf([]), null);
  eq(endOf(null), null);
  eq(endOf({ end: 3 }), null);
});

test("protocol: parseBatch accepts batches and heartbeats", () => {
  eq(parseBatch("[]"), []);
  eq(parseBatch('[{"seq":1,"type":"chat.msg","data":{"text":"\\u003cb\\u003e"}},{"seq":2,"type":"sys.reset","data":{}}]'), [
    { seq: 1, type: "chat.msg", data: { text: "<b>" } },
    { seq: 2, type: "sys.reset", data: {} },
  ]);
  eq(parseBatch('[{"seq":3,"type":"x"}]'), [{ seq: 3, type: "x", data: {} }], "missing data");
});

test("protocol: parseBatch rejects what is not a batch", () => {
  for (const [text, re] of [
    ["", /not JSON/],
    ["{}", /not a JSON array/],
    ["[1]", /not an object/],
    ['[{"type":"x","data":{}}]', /seq/],
    ['[{"seq":0,"type":"x"}]', /seq/],
    ['[{"seq":1.5,"type":"x"}]', /seq/],
    ['[{"seq":"1","type":"x"}]', /seq/],
    ['[{"seq":1,"type":""}]', /type/],
    ['[{"seq":1}]', /type/],
  ] as const) {
    throws(() => parseBatch(text), re, JSON.stringify(text));
  }
});

test("protocol: transport from the page URL", () => {
  eq(transportFromSearch("?transport=iframe"), "iframe");
  eq(transportFromSearch("?a=1&transport=longpoll"), "longpoll");
  eq(transportFromSearch("?transport=websocket"), null);
  eq(transportFromSearch(""), null);
  eq(transportFromSearch("?transport=ws"), "ws");
  eq(HTTP_TRANSPORTS, ["multipart", "sse", "iframe", "longpoll", "poll"], "ws is not in the HTTP fallback chain");
  eq(isTransport("sse"), true);
  eq(isTransport("SSE"), false);
});

test("protocol: session answer", () => {
  const s = toSession({ sid: "s_1", player: { id: "p_1", name: "Ada" }, token: "t", heartbeat_ms: 15000, transports: ["sse", 3] });
  eq(s, { sid: "s_1", player: { id: "p_1", name: "Ada" }, token: "t", heartbeat_ms: 15000, transports: ["sse"] });
  eq(toSession({ sid: "s_2" }).heartbeat_ms, 25000, "default heartbeat");
  throws(() => toSession({ player: {} }), /sid/);
  throws(() => toSession(null), /not an object/);
});
