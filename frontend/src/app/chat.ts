// The chat panel: one tab per channel (lobby, the current room, each direct
// conversation), history merged by message id so a reconnect or a sys.reset
// never duplicates or loses lines, unread marks on inactive tabs, and muting
// another player from its lines. Every piece of user text goes into the page
// as text.

import type { CometClient } from "../comet";
import { byTestID, el, isTyping } from "./dom";
import type { ChatLine, In, Out } from "./events";
import type { Sound } from "./sound";

const KEEP = 200;

interface Channel {
  id: string;
  title: string;
  lines: Map<number, ChatLine>;
  unread: number;
  /** the other player of a direct channel */
  peer?: string;
}

export class Chat {
  private readonly tabs = byTestID("chat-tabs");
  private readonly log = byTestID("chat-log");
  private readonly input = byTestID<HTMLInputElement>("chat-input");
  private readonly mutedBar = byTestID("chat-muted");
  private readonly channels = new Map<string, Channel>();
  private active = "lobby";
  private room: string | null = null;
  me = "";
  /** online players' names by id, for naming direct conversations */
  names = new Map<string, string>();
  /** players this player muted, as the server last listed them, with a name to show */
  private readonly muted = new Map<string, string>();
  /** names of players muted from a chat line, kept for the muted bar */
  private readonly muteNames = new Map<string, string>();

  constructor(private readonly client: CometClient<In, Out>, private readonly sound: Sound) {
    this.ensure("lobby");
    client.on("chat.msg", (m) => this.add(m, true));
    client.on("chat.history", (h) => {
      this.ensure(h.channel);
      for (const m of h.messages) this.add(m, false);
    });
    client.on("chat.muted", (d) => this.setMuted(d.players));
    byTestID<HTMLFormElement>("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    // Enter in the game focuses chat; Escape (handled by Input) leaves it.
    window.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !isTyping(e.target) && !(e.target instanceof HTMLButtonElement)) {
        e.preventDefault();
        this.input.focus();
      }
    });
    this.render();
  }

  /** enterRoom adds the room's tab (and shows it); null removes it. */
  setRoom(id: string | null): void {
    if (this.room && this.room !== id) {
      this.channels.delete(`room:${this.room}`);
      if (this.active === `room:${this.room}`) this.active = "lobby";
    }
    this.room = id;
    if (id) {
      this.ensure(`room:${id}`);
      this.select(`room:${id}`);
    }
    this.render();
  }

  /** channelLines returns the text of the lines shown for a channel (tests, debug). */
  lines(channel: string): string[] {
    return [...(this.channels.get(channel)?.lines.values() ?? [])].map((l) => l.text);
  }

  private ensure(id: string): Channel {
    let c = this.channels.get(id);
    if (!c) {
      c = { id, title: titleOf(id), lines: new Map(), unread: 0 };
      this.channels.set(id, c);
      this.renderTabs();
    }
    return c;
  }

  /** isMuted says whether this player muted the player id (tests, debug). */
  isMuted(id: string): boolean {
    return this.muted.has(id);
  }

  /**
   * setMuted takes the server's full list of muted players and drops their
   * lines already shown: the server leaves them out from now on, but lines
   * received before the mute would otherwise stay.
   */
  private setMuted(ids: string[]): void {
    const known = new Map([...this.muted, ...this.muteNames]);
    this.muted.clear();
    for (const id of ids) this.muted.set(id, known.get(id) ?? this.nameOf(id));
    for (const c of this.channels.values()) {
      for (const [lid, l] of c.lines) if (this.muted.has(l.from.id)) c.lines.delete(lid);
    }
    this.render();
  }

  /** nameOf names a player from the lines held or the online list. */
  private nameOf(id: string): string {
    for (const c of this.channels.values()) for (const l of c.lines.values()) if (l.from.id === id) return l.from.name;
    return this.names.get(id) ?? "a player";
  }

  private mute(id: string, name: string, on: boolean): void {
    this.muteNames.set(id, name);
    this.client.send(on ? "chat.mute" : "chat.unmute", { player: id });
  }

  private add(m: ChatLine, live: boolean): void {
    if (this.muted.has(m.from.id)) return; // sent before the server took the mute
    if (m.channel.startsWith("room:") && m.channel !== `room:${this.room}`) return; // an old room's line
    const c = this.ensure(m.channel);
    if (m.channel.startsWith("dm:")) {
      const [, a, b] = m.channel.split(":");
      c.peer = a === this.me ? b : a;
      if (m.from.id !== this.me) c.title = `@${m.from.name}`;
      else if (c.title === "Direct") c.title = `@${this.names.get(c.peer) ?? "player"}`;
    }
    if (c.lines.has(m.id)) return;
    c.lines.set(m.id, m);
    if (c.lines.size > KEEP) c.lines.delete(c.lines.keys().next().value as number);
    if (live && c.id !== this.active && m.from.id !== this.me) c.unread++;
    if (live && m.from.id !== this.me) this.sound.play("chat");
    if (c.id === this.active) this.renderLog();
    this.renderTabs();
  }

  private submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    const c = this.channels.get(this.active);
    const key = lineKey();
    if (c?.peer && !text.startsWith("/")) this.client.send("chat.say", { to: c.peer, text, key });
    else this.client.send("chat.say", { channel: c && !c.id.startsWith("dm:") ? c.id : "lobby", text, key });
    this.input.value = "";
  }

  private select(id: string): void {
    this.active = id;
    const c = this.channels.get(id);
    if (c) c.unread = 0;
    this.render();
  }

  private render(): void {
    this.renderTabs();
    this.renderLog();
    this.renderMuted();
  }

  private renderMuted(): void {
    this.mutedBar.hidden = this.muted.size === 0;
    this.mutedBar.replaceChildren(
      ...(this.muted.size ? [el("span", { class: "muted" }, "Muted:")] : []),
      ...[...this.muted].map(([id, name]) => {
        const b = el("button", { type: "button", class: "chip", "data-testid": "unmute-player", "data-player-id": id, title: `Unmute ${name}` }, name, el("span", { "aria-hidden": "true" }, " ×"));
        b.addEventListener("click", () => this.mute(id, name, false));
        return b;
      }),
    );
  }

  private renderTabs(): void {
    const order = [...this.channels.values()].sort((a, b) => rank(a.id) - rank(b.id));
    this.tabs.replaceChildren(
      ...order.map((c) => {
        const b = el(
          "button",
          { type: "button", class: "tab", role: "tab", "data-testid": "chat-tab", "data-channel": c.id, "aria-selected": String(c.id === this.active) },
          c.title,
          c.unread > 0 ? el("span", { class: "unread", "data-testid": "chat-unread" }, String(c.unread)) : null,
        );
        b.addEventListener("click", () => this.select(c.id));
        return b;
      }),
    );
  }

  private renderLog(): void {
    const c = this.channels.get(this.active);
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    const lines = c ? [...c.lines.values()].sort((a, b) => a.id - b.id) : [];
    this.log.replaceChildren(
      ...(lines.length === 0 ? [el("li", { class: "chat-line system" }, c?.peer || c?.id.startsWith("dm:") ? "Direct messages" : "No messages yet. Say hi!")] : []),
      ...lines.map((m) => this.line(m)),
    );
    if (atBottom || lines.length < 30) this.log.scrollTop = this.log.scrollHeight;
    this.input.placeholder = c?.peer ? `Message ${c.title}…` : "Say something…  (/w name text, /me text)";
  }

  private line(m: ChatLine): HTMLElement {
    const time = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const who = el("span", { class: "who", title: "Whisper" }, m.me ? `* ${m.from.name}` : m.from.name);
    who.addEventListener("click", () => {
      if (m.from.id === this.me) return;
      this.input.value = m.from.name.includes(" ") ? `/w "${m.from.name}" ` : `/w ${m.from.name} `;
      this.input.focus();
    });
    let mute: HTMLElement | null = null;
    if (m.from.id !== this.me) {
      const on = !this.muted.has(m.from.id);
      mute = el(
        "button",
        { type: "button", class: "mute", "data-testid": "mute-player", "data-player-id": m.from.id, title: `${on ? "Mute" : "Unmute"} ${m.from.name}: hide their messages` },
        on ? "Mute" : "Unmute",
      );
      mute.addEventListener("click", () => this.mute(m.from.id, m.from.name, on));
    }
    const cls = ["chat-line", m.me ? "me-action" : "", m.from.id === this.me ? "mine" : ""].filter(Boolean).join(" ");
    return el(
      "li",
      { class: cls, "data-testid": "chat-line", "data-from": m.from.id },
      el("span", { class: "time" }, time),
      who,
      el("span", { class: "text", "data-testid": "chat-text" }, m.text),
      mute,
    );
  }
}

function titleOf(id: string): string {
  if (id === "lobby") return "Lobby";
  if (id.startsWith("room:")) return "Room";
  if (id.startsWith("dm:")) return "Direct";
  return id;
}

function rank(id: string): number {
  return id === "lobby" ? 0 : id.startsWith("room:") ? 1 : 2;
}

/**
 * lineKey is a chat line's idempotency key, random (96 bits): the outbox
 * resends the event as it was, key included, so a line whose answer a
 * crashed server never sent is stored once even when the renewed session
 * resends it under a new seq. getRandomValues, unlike randomUUID, works on
 * a page served over plain HTTP from another host.
 */
function lineKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}
