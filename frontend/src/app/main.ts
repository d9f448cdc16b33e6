// Entry point of the page: wires the Comet client to the stage and the HUD.
// Loaded as a module from /static/ under a CSP of script-src 'self', so
// nothing here relies on inline script or inline handlers.

import "./style.css";
import { CometClient, transportFromSearch, type Status } from "../comet";
import { HUD } from "./hud";
import { Stage } from "./stage";

const MESSAGES: Record<Status, string | null> = {
  connecting: "Connecting…",
  open: null,
  reconnecting: "Reconnecting…",
  renewed: "Rejoining…",
  closed: "Disconnected",
};

function main(): void {
  const canvas = document.querySelector<HTMLCanvasElement>('canvas[data-testid="game-canvas"]');
  if (!canvas) throw new Error("page shell: no game canvas");
  const stage = new Stage(canvas);
  const hud = new HUD();
  const client = new CometClient({ transport: transportFromSearch(location.search) });

  const refresh = () => hud.update(client.stats, client.rtt);
  client.onStatus((s) => {
    stage.show({ message: MESSAGES[s], detail: s === "connecting" ? null : client.transport });
    hud.status(s);
    refresh();
  });
  client.on("sys.pong", refresh);
  hud.status(client.status);
  refresh();
  window.setInterval(refresh, 1000);

  // For debugging from the console and for browser tests.
  (window as unknown as { comet: unknown }).comet = { client, stage };
}

main();
