// Entry point of the page: wires the Comet client to the lobby, account,
// chat, room and HUD. Loaded as a module from /static/ under a CSP of script-src 'self',
// so nothing here relies on inline script or inline handlers.

import "./style.css";
import { CometClient, transportFromSearch } from "../comet";
import { Account } from "./account";
import { Chat } from "./chat";
import { byTestID, setText, toast } from "./dom";
import type { In, Out } from "./events";
import { HUD } from "./hud";
import { Input } from "./input";
import { Lobby } from "./lobby";
import { Room } from "./room";
import { Sound } from "./sound";
import { Stage } from "./stage";

function main(): void {
  const params = new URLSearchParams(location.search);
  const canvas = byTestID<HTMLCanvasElement>("game-canvas");
  const client = new CometClient<In, Out>({
    transport: transportFromSearch(location.search),
    // After a crash, a chat line the lost server may or may not have taken
    // is sent again (a rare repeat beats a lost line); room events are not:
    // room.renewed re-seats the tab, and a repeated room.create would open
    // a second room.
    resendAfterRenewal: (type) => type.startsWith("chat."),
  });
  const sound = new Sound();
  const stage = new Stage(canvas);
  const input = new Input(canvas, byTestID("touch-stick"), byTestID("touch-aim"));
  const hud = new HUD(params.get("debug") === "1");
  const lobby = new Lobby(client);
  const account = new Account(client);
  const chat = new Chat(client, sound);
  const room = new Room(client, stage, input, sound);
  let tickHz: number | null = null;
  let joinedInvite = false;
  let seenSid = ""; // the session whose player the page has taken in

  lobby.onNames = (names) => (chat.names = names);
  room.onRoom = (id) => chat.setRoom(id);
  room.onNotice = (text, ok) => hud.notice(text, ok);
  client.on("room.joined", (j) => (tickHz = j.tick_hz));
  client.on("room.left", () => (tickHz = room.inRoom ? tickHz : null));
  client.on("room.closed", () => (tickHz = room.inRoom ? tickHz : null));
  client.on("player.renamed", (p) => {
    chat.me = p.id;
    toast(`You are now ${p.name}`, "info");
  });
  client.on("sys.error", (e) => {
    if (account.claimError(e.ref, e.message || e.code)) return; // shown in the claim form
    if (room.handles(e.ref)) return; // a room gone after a restart: the room shows what it did instead
    if (e.code !== "invalid" || !/input/.test(e.message)) toast(e.message || e.code);
  });

  const soundBtn = byTestID("sound-toggle");
  const showSound = () => {
    setText(soundBtn, sound.enabled ? "Sound on" : "Sound off");
    soundBtn.setAttribute("aria-pressed", String(sound.enabled));
  };
  soundBtn.addEventListener("click", () => {
    sound.toggle();
    showSound();
  });
  showSound();

  const refresh = () => hud.update(client.stats, client.rtt, room.inRoom ? tickHz : null, hud.debug ? room.debug() : null);
  client.onStatus((s) => {
    hud.status(s);
    // Only a new session's player is news: the info is what the server said
    // when the session opened, so on a reconnect of the same session (a
    // restart's hand-over, a cut) it would undo a rename made since.
    const info = client.sessionInfo;
    if ((s === "open" || s === "renewed") && info && info.sid !== seenSid) {
      seenSid = info.sid;
      chat.me = info.player.id;
      lobby.session(info.player.id, info.player.name);
      account.session(info.player.id, info.player.name, info.player.claimed);
    }
    // A new session (the old one expired) is in the lobby again: re-enter the room.
    if (s === "renewed") room.renewed();
    // An invite link (/?join=CODE) seats its visitor once the session is open.
    const invite = params.get("join");
    if (s === "open" && invite && !joinedInvite) {
      joinedInvite = true;
      room.joining(invite);
      client.send("room.join", { room: invite });
      params.delete("join");
      history.replaceState(null, "", location.pathname + (params.size ? `?${params}` : "") + location.hash);
    }
    refresh();
  });
  client.on("sys.pong", refresh);
  client.on("sys.restart", () => hud.restarting());

  // A page that goes away (closed, reloaded, navigated elsewhere) ends its
  // session at once, so its player leaves the room now instead of standing
  // in it until the grace runs out. The token travels as the cookie. A page
  // restored from the back/forward cache finds its session gone and renews it.
  window.addEventListener("pagehide", () => {
    const sid = client.sessionInfo?.sid;
    if (sid) navigator.sendBeacon(`/comet/${encodeURIComponent(sid)}/close`);
  });
  hud.status(client.status);
  refresh();
  window.setInterval(refresh, 500);

  // For debugging from the console and for browser tests.
  (window as unknown as { comet: unknown }).comet = {
    client,
    room,
    chat,
    account,
    state: () => room.debug(),
  };
}

main();
