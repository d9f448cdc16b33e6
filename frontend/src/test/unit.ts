// Entry of the unit-test bundle: every *.test.ts of the client library and the game core, run in
// the browser. The results land in window.__unit for the Go test to read.

import "../app/account.test";
import "../app/catalog.test";
import "../comet/backoff.test";
import "../comet/multipart.test";
import "../comet/muxframe.test";
import "../comet/outbox.test";
import "../comet/protocol.test";
import "../comet/rate.test";
import "../comet/seq.test";
import "../comet/tabs.test";
import "../comet/transports/ws.test";
import "../game/fx.test";
import "../game/interp.test";
import "../game/predict.test";
import "../game/view.test";
import "../modes/draw.test";
import "../modes/snake/index.test";
import { run, type Result } from "./harness";

declare global {
  interface Window {
    __unit?: Result[];
  }
}

void run().then((r) => {
  window.__unit = r;
});
