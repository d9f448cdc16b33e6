// A tiny test runner for the browser: tests register with test(), run() runs
// them in order and returns one result per test. The Go side (package
// frontend/browsertest) loads the bundle in Chromium and reads the results.

export interface Result {
  name: string;
  error: string; // "" when the test passed
}

type Fn = () => void | Promise<void>;
const tests: { name: string; fn: Fn }[] = [];

export function test(name: string, fn: Fn): void {
  tests.push({ name, fn });
}

export async function run(): Promise<Result[]> {
  const out: Result[] = [];
  for (const { name, fn } of tests) {
    try {
      await fn();
      out.push({ name, error: "" });
    } catch (e) {
      out.push({ name, error: e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e) });
    }
  }
  return out;
}

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function ok(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

/** eq compares by JSON, which is enough for the plain data under test. */
export function eq<T>(got: T, want: T, msg = ""): void {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new AssertionError(`${msg ? msg + ": " : ""}got ${g}, want ${w}`);
}

export function throws(fn: () => unknown, re: RegExp, msg = ""): void {
  try {
    fn();
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    if (!re.test(m)) throw new AssertionError(`${msg ? msg + ": " : ""}error ${JSON.stringify(m)} does not match ${re}`);
    return;
  }
  throw new AssertionError(`${msg ? msg + ": " : ""}no error thrown, want ${re}`);
}

/** rng is a small deterministic PRNG (mulberry32) for randomized tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
