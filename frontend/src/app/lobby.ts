// The lobby: name, live room list, quick play per mode, create and join by
// code, spectate, the online count and the leaderboard per mode.

import type { CometClient } from "../comet";
import { MODES, modeOf } from "../modes/all";
import { fetchModes, limits, type ModeInfo } from "./catalog";
import { byTestID, el, setText } from "./dom";
import type { In, Out, RoomInfo } from "./events";

interface LeaderRow {
  id: string;
  name: string;
  wins: number;
  best_score: number;
  games: number;
}

export class Lobby {
  private readonly rooms = new Map<string, RoomInfo>();
  private readonly list = byTestID("room-list");
  private readonly nameInput = byTestID<HTMLInputElement>("name-input");
  private board = MODES[0].name;
  /** the leaderboard's period: all time or the last 7 days */
  private period: "all" | "week" = "all";
  private boardTimer = 0;
  /** what the server declared of each mode (GET /api/modes) */
  private declared = new Map<string, ModeInfo>();
  private renameSeq = -1;
  /** the player's id and name, once the session is open */
  me: { id: string; name: string } = { id: "", name: "" };
  onNames: (names: Map<string, string>) => void = () => undefined;

  constructor(private readonly client: CometClient<In, Out>) {
    this.renderModes();
    client.on("lobby.rooms", (d) => {
      if (d.full) this.rooms.clear();
      for (const r of d.rooms) this.rooms.set(r.id, r);
      for (const id of d.closed) this.rooms.delete(id);
      this.renderRooms();
    });
    client.on("lobby.presence", (d) => {
      setText(byTestID("online-count"), String(d.count));
      this.onNames(new Map(d.players.map((p) => [p.id, p.name])));
    });
    client.on("sys.error", (e) => {
      // A refused name (taken, claimed, not allowed): the field shows the name you still have.
      if (e.ref !== this.renameSeq) return;
      this.renameSeq = -1;
      this.nameInput.value = this.me.name;
      this.nameInput.classList.remove("dirty");
    });
    client.on("player.renamed", (p) => {
      this.me = { id: p.id, name: p.name };
      this.nameInput.value = p.name;
      this.nameInput.classList.remove("dirty");
    });
    client.on("match.result", () => this.loadBoard());

    byTestID<HTMLFormElement>("name-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const name = this.nameInput.value.trim();
      if (name && name !== this.me.name) this.renameSeq = client.send("player.rename", { name });
      else this.nameInput.value = this.me.name;
      this.nameInput.blur();
    });
    byTestID<HTMLFormElement>("create-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target as HTMLFormElement;
      const data = new FormData(f);
      const req: Out["room.create"] = { mode: String(data.get("mode")) };
      const name = String(data.get("name") ?? "").trim();
      if (name) req.name = name;
      const max = Number(data.get("max"));
      if (max >= 2) req.max = max;
      if (data.get("private")) req.private = true;
      client.send("room.create", req);
    });
    byTestID<HTMLFormElement>("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const code = byTestID<HTMLInputElement>("join-code").value.trim();
      if (code) client.send("room.join", { room: code });
    });
    byTestID<HTMLSelectElement>("create-mode").addEventListener("change", () => this.fitCreateForm(true));
    for (const b of byTestID("leaderboard-periods").querySelectorAll<HTMLElement>("[data-period]")) {
      b.addEventListener("click", () => {
        this.period = b.dataset.period === "week" ? "week" : "all";
        this.loadBoard();
      });
    }
    this.loadBoard();
    this.renderRooms();
    void fetchModes().then((list) => {
      this.declared = new Map(list.map((m) => [m.name, m]));
      this.showServerModes();
      this.fitCreateForm(false);
    });
  }

  /** showServerModes hides the modes this page can draw but the server does not run. */
  private showServerModes(): void {
    if (this.declared.size === 0) return;
    const runs = (el: Element) => this.declared.has((el as HTMLElement).dataset.mode ?? (el as HTMLOptionElement).value);
    for (const e of document.querySelectorAll<HTMLElement>(".mode-card, [data-testid=leaderboard-tab]")) e.hidden = !runs(e);
    for (const o of byTestID<HTMLSelectElement>("create-mode").options) {
      o.hidden = o.disabled = !runs(o);
    }
    const select = byTestID<HTMLSelectElement>("create-mode");
    if (select.selectedOptions[0]?.disabled) select.value = [...select.options].find((o) => !o.disabled)?.value ?? "";
  }

  /**
   * fitCreateForm bounds the players field by the selected mode's declared
   * room sizes; reset (another mode chosen) also starts it at the mode's
   * default size, else a value the player typed is kept when it fits.
   */
  private fitCreateForm(reset: boolean): void {
    const mode = byTestID<HTMLSelectElement>("create-mode").value;
    const max = byTestID<HTMLInputElement>("create-max");
    const l = limits(this.declared.get(mode));
    const typed = Number(max.value);
    max.min = String(l.min);
    max.max = String(l.max);
    if (reset || max.value === max.defaultValue || !(typed >= l.min && typed <= l.max)) max.value = String(l.size);
  }

  /** session fills the name field for a new or returning player. */
  session(id: string, name: string): void {
    this.me = { id, name };
    if (document.activeElement !== this.nameInput) this.nameInput.value = name;
  }

  private renderModes(): void {
    const cards = byTestID("mode-cards");
    const select = byTestID<HTMLSelectElement>("create-mode");
    const tabs = byTestID("leaderboard-tabs");
    for (const m of MODES) {
      const play = el("button", { type: "button", class: "btn", "data-testid": "quick-play", "data-mode": m.name }, "Play");
      play.addEventListener("click", () => this.client.send("room.join", { mode: m.name }));
      const card = el("div", { class: "mode-card", "data-mode": m.name }, el("b", {}, m.title), play, el("p", {}, m.blurb));
      card.style.setProperty("--mode", m.color);
      cards.append(card);
      select.append(el("option", { value: m.name }, m.title));
      const tab = el("button", { type: "button", class: "tab", role: "tab", "data-testid": "leaderboard-tab", "data-mode": m.name }, m.title);
      tab.addEventListener("click", () => {
        this.board = m.name;
        this.loadBoard();
      });
      tabs.append(tab);
    }
  }

  private renderRooms(): void {
    const rooms = [...this.rooms.values()].sort((a, b) => b.players - a.players || a.name.localeCompare(b.name));
    setText(byTestID("room-count"), rooms.length ? String(rooms.length) : "");
    byTestID("room-empty").hidden = rooms.length > 0;
    this.list.replaceChildren(
      ...rooms.map((r) => {
        const mode = modeOf(r.mode);
        const badge = el("span", { class: "badge" }, mode?.title ?? r.mode);
        if (mode) badge.style.setProperty("--mode", mode.color);
        const full = r.players >= r.max;
        const join = el("button", { type: "button", class: "btn btn-small", "data-testid": "room-join", disabled: full || r.private }, r.private ? "Private" : "Join");
        join.addEventListener("click", () => this.client.send("room.join", { room: r.id }));
        const watch = el("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "room-spectate", disabled: r.private }, "Watch");
        watch.addEventListener("click", () => this.client.send("room.spectate", { room: r.id }));
        return el(
          "li",
          { class: "room-item", "data-testid": "room-item", "data-room-id": r.id, "data-mode": r.mode, "data-state": r.state },
          badge,
          el("span", { class: "name", title: r.name }, (r.private ? "🔒 " : "") + r.name),
          el(
            "span",
            { class: "meta" },
            el("span", { "data-testid": "room-players" }, `${r.players}/${r.max}`),
            r.spectators ? ` · ${r.spectators} watching` : "",
            " · ",
            el("span", { class: `state ${r.state}` }, r.state),
          ),
          el("span", { class: "actions" }, join, watch),
        );
      }),
    );
  }

  /** loadBoard fetches the leaderboard of the selected mode (debounced). */
  private loadBoard(): void {
    window.clearTimeout(this.boardTimer);
    this.boardTimer = window.setTimeout(() => void this.fetchBoard(), 50);
  }

  private async fetchBoard(): Promise<void> {
    const mode = this.board;
    const period = this.period;
    for (const t of byTestID("leaderboard-tabs").children) t.setAttribute("aria-selected", String((t as HTMLElement).dataset.mode === mode));
    for (const t of byTestID("leaderboard-periods").children) t.setAttribute("aria-selected", String((t as HTMLElement).dataset.period === period));
    let rows: LeaderRow[] = [];
    try {
      const res = await fetch(`/api/leaderboard?mode=${encodeURIComponent(mode)}&period=${period}&limit=10`, { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      rows = ((await res.json()) as { rows: LeaderRow[] }).rows ?? [];
    } catch {
      rows = [];
    }
    if (mode !== this.board || period !== this.period) return;
    const body = byTestID("leaderboard").querySelector("tbody") as HTMLElement;
    body.replaceChildren(
      ...(rows.length === 0
        ? [el("tr", {}, el("td", { colspan: 5, class: "muted" }, period === "week" ? "Nobody ranked this week yet." : "Nobody ranked yet.", " Claim your name to be ranked."))]
        : rows.map((r, i) =>
            el(
              "tr",
              { class: r.id === this.me.id ? "me" : "", "data-testid": "leaderboard-row" },
              el("td", {}, String(i + 1)),
              el("td", {}, r.name),
              el("td", {}, String(r.wins)),
              el("td", {}, String(r.best_score)),
              el("td", {}, String(r.games)),
            ),
          )),
    );
  }
}
