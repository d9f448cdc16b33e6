// The frames of a mux stream (docs/PROTOCOL.md, "Mux"): one held response
// carrying several sessions of one player, each batch and end framed with its
// session id. The stream's own end frame is read by the transport.

import { ProtocolError, toEvents, type CometEvent } from "./protocol";

export type MuxFrame =
  /** One session's batch. */
  | { kind: "batch"; sid: string; events: CometEvent[] }
  /** One session left the mux: replaced, ended, or gone (refused: unknown or not ours). */
  | { kind: "end"; sid: string; reason: string }
  /** The stream's heartbeat (an empty batch), for every session on it. */
  | { kind: "beat" };

/** toMuxFrame checks one decoded mux frame; a ProtocolError for anything else. */
export function toMuxFrame(v: unknown): MuxFrame {
  if (Array.isArray(v)) {
    if (v.length > 0) throw new ProtocolError("a mux batch must name its session");
    return { kind: "beat" };
  }
  if (typeof v !== "object" || v === null) throw new ProtocolError("mux frame is not an object");
  const o = v as { sid?: unknown; batch?: unknown; end?: unknown };
  if (typeof o.sid !== "string" || o.sid === "") throw new ProtocolError("mux frame has no sid");
  if (o.batch !== undefined) return { kind: "batch", sid: o.sid, events: toEvents(o.batch) };
  if (typeof o.end === "string" && o.end !== "") return { kind: "end", sid: o.sid, reason: o.end };
  throw new ProtocolError("mux frame is neither a batch nor an end");
}

/** muxURL builds /comet/mux/{transport}?s=<sid>:<last>&… */
export function muxURL(base: string, transport: string, members: Iterable<[string, number]>): string {
  const q = new URLSearchParams();
  for (const [sid, last] of members) q.append("s", `${sid}:${last}`);
  return `${base}/mux/${transport}?${q.toString()}`;
}
