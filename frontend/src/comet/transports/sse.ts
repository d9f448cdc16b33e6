// Server-sent events through EventSource. The client owns reconnection (it
// must resume with its own last seq, back off, and learn about 404s), so the
// EventSource is closed on its first error instead of left to retry.

import {
  batches,
  errorMessage,
  parseJSON,
  streamEndOf,
  streamURL,
  type RawHandlers,
  type Stream,
  type StreamHandlers,
  type StreamParams,
} from "./transport";

export function openSSE(p: StreamParams, h: StreamHandlers): Stream {
  return openSSERaw(streamURL(p, "sse"), batches(h));
}

/** openSSERaw reads the event stream at url, one decoded data line at a time. */
export function openSSERaw(url: string, h: RawHandlers): Stream {
  const es = new EventSource(url);
  let closed = false;
  const end: StreamHandlers["ended"] = (e) => {
    if (!closed) {
      closed = true;
      es.close();
      h.ended(e);
    }
  };
  es.onopen = () => {
    if (!closed) h.opened();
  };
  es.onmessage = (m: MessageEvent<string>) => {
    if (closed) return;
    // EventSource hides the raw bytes; count the data line and its framing.
    h.bytes(m.data.length + (m.lastEventId ? m.lastEventId.length + 5 : 0) + 8);
    try {
      const v = parseJSON(m.data);
      const reason = streamEndOf(v);
      if (reason !== null) end({ kind: "clean", reason });
      else h.frame(v);
    } catch (e) {
      end({ kind: "protocol", message: errorMessage(e) });
    }
  };
  es.onerror = () => {
    // CLOSED: the response was not a 200 event stream (status hidden).
    // CONNECTING: the connection ended without an end frame (a cut).
    end(es.readyState === EventSource.CLOSED ? { kind: "unknown" } : { kind: "eof" });
  };
  return {
    close() {
      closed = true;
      es.close();
    },
  };
}
