// Entry of the end-to-end test page: exposes the client library to the Go
// browser tests, which drive it against the real server and read back what
// it delivered.

import { CometClient, type CometEvent, type CometOptions, type Status } from "../comet";

interface Log {
  events: CometEvent[];
  statuses: Status[];
  sids: string[];
  errors: string[];
}

const log: Log = { events: [], statuses: [], sids: [], errors: [] };
let client: CometClient | null = null;

function need(): CometClient {
  if (!client) throw new Error("cometTest.start was not called");
  return client;
}

const api = {
  start(opts: CometOptions): true {
    const c = new CometClient(opts);
    client = c;
    c.onAny((ev) => log.events.push(ev));
    c.onStatus((s) => {
      log.statuses.push(s);
      const sid = c.sessionInfo?.sid;
      if (sid && !log.sids.includes(sid)) log.sids.push(sid);
    });
    c.onError((e) => log.errors.push(String(e)));
    return true;
  },
  send(type: string, data: unknown): number {
    return need().send(type, data);
  },
  /** sendMany queues n events of type with data {[field]: i} in one go. */
  sendMany(type: string, n: number, field = "i"): number[] {
    const c = need();
    return Array.from({ length: n }, (_, i) => c.send(type, { [field]: i }));
  },
  /** count of delivered events of a type. */
  count(type: string): number {
    return log.events.filter((e) => e.type === type).length;
  },
  state() {
    const c = need();
    return { status: c.status, transport: c.transport, rtt: c.rtt, stats: c.stats, sid: c.sessionInfo?.sid ?? "", log };
  },
  close(): void {
    need().close();
  },
};

(window as unknown as { cometTest: typeof api }).cometTest = api;
