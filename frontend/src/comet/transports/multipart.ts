// Multipart: fetch + ReadableStream, parts cut by MultipartParser. Browsers no
// longer render multipart/x-mixed-replace documents, so this reads the bytes.

import { boundaryOf, MultipartParser } from "../multipart";
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

export function openMultipart(p: StreamParams, h: StreamHandlers): Stream {
  return openMultipartRaw(streamURL(p, "multipart"), batches(h));
}

/** openMultipartRaw reads the multipart stream at url, one decoded part at a time. */
export function openMultipartRaw(url: string, h: RawHandlers): Stream {
  const ac = new AbortController();
  let closed = false;
  const end: StreamHandlers["ended"] = (e) => {
    if (!closed) {
      closed = true;
      ac.abort();
      h.ended(e);
    }
  };
  void (async () => {
    let res: Response;
    try {
      res = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        signal: ac.signal,
      });
    } catch (e) {
      end({ kind: "network", message: errorMessage(e) });
      return;
    }
    if (res.status !== 200) {
      end({ kind: "status", status: res.status });
      return;
    }
    const boundary = boundaryOf(res.headers.get("Content-Type"));
    if (!boundary || !res.body) {
      end({ kind: "protocol", message: `not a multipart stream: ${res.headers.get("Content-Type")}` });
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new MultipartParser(boundary);
    let reason: string | undefined; // from the end frame, before the close delimiter
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        end({ kind: "network", message: errorMessage(e) });
        return;
      }
      if (closed) return;
      if (r.done) {
        end(parser.closed || reason !== undefined ? { kind: "clean", reason } : { kind: "eof" });
        return;
      }
      h.bytes(r.value.byteLength);
      h.opened();
      try {
        for (const body of parser.push(decoder.decode(r.value, { stream: true }))) {
          const v = parseJSON(body);
          const end = streamEndOf(v);
          if (end !== null) reason = end;
          else h.frame(v);
          if (closed) return;
        }
      } catch (e) {
        end({ kind: "protocol", message: errorMessage(e) });
        return;
      }
      if (parser.closed) {
        end({ kind: "clean", reason });
        return;
      }
    }
  })();
  return {
    close() {
      closed = true;
      ac.abort();
    },
  };
}
