// A streaming parser for multipart/x-mixed-replace as the Comet server writes
// it: a prelude, then parts of "--boundary CRLF headers CRLF CRLF body CRLF",
// and "--boundary--" on a clean end. Input arrives in arbitrary pieces.
//
// The protocol promises that a part body is exactly one line (JSON with no raw
// CR or LF), so a part is complete at the CRLF that ends its line: it is
// delivered at once, not when the next part's delimiter arrives, which for a
// quiet stream would be a heartbeat later.

import { ProtocolError } from "./protocol";

/** boundaryOf extracts the boundary parameter of a multipart Content-Type, or null. */
export function boundaryOf(contentType: string | null): string | null {
  if (!contentType) return null;
  const [type, ...params] = contentType.split(";");
  if (!/^\s*multipart\/[a-z0-9.+-]+\s*$/i.test(type)) return null;
  for (const p of params) {
    const m = /^\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s";]{1,70}))\s*$/i.exec(p);
    if (m) return m[1] ?? m[2];
  }
  return null;
}

const enum State {
  Preamble,
  Delimiter, // just after "--boundary": "--" (close) or the rest of the line
  Headers,
  Body,
  AfterBody, // the body's CRLF was read: the next delimiter must follow
  Done,
}

/** MultipartParser turns a text stream into part bodies. */
export class MultipartParser {
  private buf = "";
  private state = State.Preamble;
  private scanned = 0; // offset in buf already searched in vain (Body, Preamble)
  private readonly dash: string; // "--boundary"
  private readonly maxPart: number;

  /** maxPart bounds a part (and the prelude) in characters; longer input is a ProtocolError. */
  constructor(boundary: string, maxPart = 1 << 20) {
    this.dash = "--" + boundary;
    this.maxPart = maxPart;
  }

  /** Whether the closing delimiter ("--boundary--") has been read. */
  get closed(): boolean {
    return this.state === State.Done;
  }

  /** push adds text and returns the bodies of the parts it completed, in order. */
  push(text: string): string[] {
    const out: string[] = [];
    if (this.state === State.Done) return out;
    this.buf += text;
    for (;;) {
      switch (this.state) {
        case State.Preamble: {
          // The first delimiter starts the buffer or follows a line break.
          let i = this.buf.indexOf(this.dash, this.scanned);
          while (i > 0 && this.buf[i - 1] !== "\n") i = this.buf.indexOf(this.dash, i + 1);
          if (i < 0) {
            // Keep a tail that may hold the start of the delimiter.
            this.scanned = Math.max(0, this.buf.length - this.dash.length);
            if (this.buf.length > this.maxPart) throw new ProtocolError("multipart prelude too long");
            return out;
          }
          this.take(i + this.dash.length, State.Delimiter);
          break;
        }
        case State.Delimiter: {
          if (this.buf.length < 2) return out;
          if (this.buf.startsWith("--")) {
            this.state = State.Done;
            this.buf = "";
            return out;
          }
          const eol = this.buf.indexOf("\r\n");
          if (eol < 0) {
            if (this.buf.length > 256) throw new ProtocolError("multipart delimiter line too long");
            return out;
          }
          if (!/^[ \t]*$/.test(this.buf.slice(0, eol))) throw new ProtocolError("garbage after multipart boundary");
          this.take(eol + 2, State.Headers);
          break;
        }
        case State.Headers: {
          if (this.buf.startsWith("\r\n")) {
            this.take(2, State.Body);
            break;
          }
          const end = this.buf.indexOf("\r\n\r\n");
          if (end < 0) {
            if (this.buf.length > 8192) throw new ProtocolError("multipart headers too long");
            return out;
          }
          this.take(end + 4, State.Body);
          break;
        }
        case State.Body: {
          const i = this.buf.indexOf("\r\n", this.scanned);
          if (i < 0) {
            this.scanned = Math.max(0, this.buf.length - 1);
            if (this.buf.length > this.maxPart) throw new ProtocolError("multipart part too long");
            return out;
          }
          out.push(this.buf.slice(0, i));
          this.take(i + 2, State.AfterBody);
          break;
        }
        case State.AfterBody: {
          const n = Math.min(this.buf.length, this.dash.length);
          if (this.buf.slice(0, n) !== this.dash.slice(0, n))
            throw new ProtocolError("multipart part body is not one line");
          if (n < this.dash.length) return out;
          this.take(this.dash.length, State.Delimiter);
          break;
        }
        default:
          return out;
      }
    }
  }

  private take(n: number, next: State): void {
    this.buf = this.buf.slice(n);
    this.scanned = 0;
    this.state = next;
  }
}
