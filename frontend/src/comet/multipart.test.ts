import { test, eq, ok, rng, throws } from "../test/harness";
import { boundaryOf, MultipartParser } from "./multipart";

const B = "comet-0123456789abcdef";
const prelude = " ".repeat(2048) + "\r\n";
const part = (body: string) => `--${B}\r\nContent-Type: application/json\r\n\r\n${body}\r\n`;
const close = `--${B}--\r\n`;

/** feed pushes text in the given piece lengths and collects the bodies. */
function feed(p: MultipartParser, text: string, cuts: number[]): string[] {
  const out: string[] = [];
  let i = 0;
  for (const n of cuts) {
    out.push(...p.push(text.slice(i, i + n)));
    i += n;
  }
  out.push(...p.push(text.slice(i)));
  return out;
}

test("multipart: boundary from Content-Type", () => {
  eq(boundaryOf(`multipart/x-mixed-replace; boundary="${B}"`), B);
  eq(boundaryOf(`multipart/x-mixed-replace;boundary=${B}`), B);
  eq(boundaryOf(`Multipart/X-Mixed-Replace; charset=utf-8; BOUNDARY="${B}"`), B);
  eq(boundaryOf("text/html; boundary=x"), null);
  eq(boundaryOf("multipart/x-mixed-replace"), null);
  eq(boundaryOf(null), null);
});

test("multipart: whole stream at once", () => {
  const p = new MultipartParser(B);
  const text = prelude + part("[]") + part('[{"seq":1,"type":"a","data":{}}]') + close;
  eq(p.push(text), ["[]", '[{"seq":1,"type":"a","data":{}}]']);
  ok(p.closed, "closed after the final delimiter");
  eq(p.push(part("[]")), [], "nothing after the end");
});

test("multipart: one byte at a time", () => {
  const p = new MultipartParser(B);
  const text = prelude + part("[1]") + part("[2]") + close;
  eq(feed(p, text, Array(text.length).fill(1)), ["[1]", "[2]"]);
  ok(p.closed, "closed");
});

test("multipart: random splits give the same parts (200 seeds)", () => {
  const bodies = ["[]", '[{"seq":1,"type":"x","data":"--comet-"}]', "[" + "7,".repeat(500) + "7]", "[]"];
  const text = prelude + bodies.map(part).join("") + close;
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const cuts: number[] = [];
    for (let n = 0; n < text.length; ) {
      const c = 1 + Math.floor(r() * 90);
      cuts.push(c);
      n += c;
    }
    const p = new MultipartParser(B);
    eq(feed(p, text, cuts), bodies, `seed ${seed}`);
    ok(p.closed, `seed ${seed}: closed`);
  }
});

test("multipart: a body may contain the boundary text", () => {
  const p = new MultipartParser(B);
  const body = `["--${B}","\\r\\n--${B}--"]`;
  eq(p.push(prelude + part(body) + close), [body]);
  ok(p.closed, "closed");
});

test("multipart: parts without headers, and a stream with no prelude", () => {
  const p = new MultipartParser(B);
  eq(p.push(`--${B}\r\n\r\n[1]\r\n--${B}\r\n\r\n[2]\r\n`), ["[1]", "[2]"]);
});

test("multipart: a part is delivered when its line ends, before the next delimiter", () => {
  const p = new MultipartParser(B);
  eq(p.push(prelude + `--${B}\r\nContent-Type: application/json\r\n\r\n[1]`), [], "line not ended");
  eq(p.push("\r"), [], "CR alone does not end the line");
  eq(p.push("\n"), ["[1]"]);
  eq(p.push(`--${B}\r\nContent-Type: application/json\r\n\r\n[2]\r\n`), ["[2]"]);
  ok(!p.closed, "still open");
});

test("multipart: a body of more than one line is an error", () => {
  throws(() => new MultipartParser(B).push(`--${B}\r\n\r\n[1,\r\n2]\r\n--${B}--`), /not one line/);
});

test("multipart: a boundary in the prelude must start a line", () => {
  const p = new MultipartParser(B);
  const text = `xx--${B}\r\nContent-Type: application/json\r\n\r\n[0]\r\n--${B}\r\n\r\n[1]\r\n--${B}--`;
  eq(p.push(text), ["[1]"], "a delimiter inside a line is not one");
  ok(p.closed, "closed");
});

test("multipart: garbage and oversize parts are errors", () => {
  throws(() => new MultipartParser(B).push(`--${B}junk\r\n`), /garbage/);
  throws(() => new MultipartParser(B, 100).push(" ".repeat(200)), /prelude too long/);
  throws(() => new MultipartParser(B, 100).push(`--${B}\r\n\r\n` + "x".repeat(200)), /part too long/);
});

test("multipart: UTF-8 split across chunks decodes whole", () => {
  const body = '[{"seq":1,"type":"chat.msg","data":{"text":"héllo 😀"}}]';
  const bytes = new TextEncoder().encode(prelude + part(body) + close);
  const dec = new TextDecoder();
  const p = new MultipartParser(B);
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 3) out.push(...p.push(dec.decode(bytes.subarray(i, i + 3), { stream: true })));
  eq(out, [body]);
});
