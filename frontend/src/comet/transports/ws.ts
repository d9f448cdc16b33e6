// WebSocket (GET /comet/{sid}/ws?last=N): each text message is a batch or the
// end frame, and the same socket carries the client's event batches upstream
// (the bodies a POST /send would carry). The browser hides the handshake's
// status, so a refusal ends as "unknown" and the client asks a poll why.

import { parseFrame } from "../protocol";
import { errorMessage, streamURL, type Stream, type StreamHandlers, type StreamParams } from "./transport";

/** wsURL turns the stream path into an absolute ws: or wss: URL on this page's host. */
export function wsURL(path: string, page: string): string {
  const u = new URL(path, page);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

/** Close codes that mean the server found our bytes wrong (docs/PROTOCOL.md, close codes). */
const PROTOCOL_CODES = new Set([1002, 1003, 1007, 1008, 1009]);

export function openWS(p: StreamParams, h: StreamHandlers): Stream {
  let closed = false;
  let opened = false;
  let reason: string | undefined; // from the end frame, before the close frame
  let ws: WebSocket;
  try {
    ws = new WebSocket(wsURL(streamURL(p, "ws"), location.href));
  } catch (e) {
    queueMicrotask(() => h.ended({ kind: "network", message: errorMessage(e) }));
    return { close() {} };
  }
  const end: StreamHandlers["ended"] = (e) => {
    if (closed) return;
    closed = true;
    detach();
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    h.ended(e);
  };
  const detach = () => {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  };
  ws.onopen = () => {
    if (closed) return;
    opened = true;
    h.opened();
  };
  ws.onmessage = (m: MessageEvent) => {
    if (closed) return;
    if (typeof m.data !== "string") {
      end({ kind: "protocol", message: "binary WebSocket message" });
      return;
    }
    h.bytes(m.data.length + 2);
    try {
      const f = parseFrame(m.data);
      if ("end" in f) reason = f.end;
      else h.batch(f.events);
    } catch (e) {
      end({ kind: "protocol", message: errorMessage(e) });
    }
  };
  ws.onclose = (c: CloseEvent) => {
    if (closed) return;
    // Before the 101 the browser says nothing of the status (404, 403,
    // 426 …): the client learns it from a poll.
    if (!opened) end({ kind: "unknown" });
    else if (reason !== undefined) end({ kind: "clean", reason });
    else if (PROTOCOL_CODES.has(c.code)) end({ kind: "protocol", message: `WebSocket closed ${c.code} ${c.reason}` });
    // 1000/1001 with a reason and no end frame read: the reason is the end's.
    else if ((c.code === 1000 || c.code === 1001) && c.reason) end({ kind: "clean", reason: c.reason });
    else end({ kind: "eof" }); // 1006 and the rest: a cut
  };
  // An error is always followed by a close, which says more.
  ws.onerror = null;
  return {
    close() {
      if (closed) return;
      closed = true;
      detach();
      ws.close(1000);
    },
    send(body: string): boolean {
      if (closed || ws.readyState !== WebSocket.OPEN) return false;
      try {
        ws.send(body);
        return true;
      } catch {
        return false;
      }
    },
  };
}
