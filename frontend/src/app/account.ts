// The account control beside the name field: claim the current name with a
// password (player.claim), log in as a claimed player from another browser
// (POST /comet/login, then a fresh page so the new cookie's player takes
// over), and a "claimed" mark. Errors are shown inline, as text.

import type { CometClient } from "../comet";
import { byTestID, setText } from "./dom";
import type { In, Out } from "./events";

/** MIN_PASSWORD and MAX_PASSWORD bound a password in UTF-8 bytes, as the server counts (bcrypt reads 72). */
const MIN_PASSWORD = 8;
const MAX_PASSWORD = 72;

/**
 * CLAIMED_KEY remembers, per browser, the id of a player this browser saw
 * claimed: the session answer does not say whether a player is claimed, so
 * the mark after a reload comes from here (or from `player.claimed` live).
 */
const CLAIMED_KEY = "comet.claimed";

/** passwordProblem says why a claim password is refused before it is sent, or "" if it is fine. */
export function passwordProblem(pw: string, again: string): string {
  const n = new TextEncoder().encode(pw).length;
  if (n < MIN_PASSWORD || n > MAX_PASSWORD) return `a password is ${MIN_PASSWORD} to ${MAX_PASSWORD} bytes`;
  if (pw !== again) return "the passwords do not match";
  return "";
}

interface LoginAnswer {
  player?: { id: string; name: string };
  error?: string;
}

export class Account {
  private readonly status = byTestID("account-status");
  private readonly claimOpen = byTestID<HTMLButtonElement>("claim-open");
  private readonly loginOpen = byTestID<HTMLButtonElement>("login-open");
  private readonly claimForm = byTestID<HTMLFormElement>("claim-form");
  private readonly loginForm = byTestID<HTMLFormElement>("login-form");
  private readonly claimMsg = byTestID("claim-message");
  private readonly loginMsg = byTestID("login-message");
  private me = { id: "", name: "" };
  private claimed = false;
  /** the client seq of the claim in flight, to tell its sys.error from others */
  private claimRef = -1;
  /** reload starts the page again; a test may replace it. */
  reload: () => void = () => location.reload();

  constructor(private readonly client: CometClient<In, Out>) {
    this.claimOpen.addEventListener("click", () => this.toggle(this.claimForm, this.claimOpen));
    this.loginOpen.addEventListener("click", () => this.toggle(this.loginForm, this.loginOpen));
    this.claimForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.claim();
    });
    this.loginForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.login();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.closeAll();
    });
    client.on("player.claimed", (d) => {
      this.claimRef = -1;
      this.remember(this.me.id);
      this.setClaimed(true);
      this.say(this.claimMsg, `"${d.name}" is yours.`, "ok");
      for (const f of this.claimForm.querySelectorAll("input")) f.value = "";
      window.setTimeout(() => this.close(this.claimForm, this.claimOpen), 1200);
    });
    client.on("player.renamed", (p) => {
      this.me = { id: p.id, name: p.name };
      setText(byTestID("claim-name"), p.name);
    });
    this.render();
  }

  /** session sets the player of a new or renewed session. */
  session(id: string, name: string, claimed?: boolean): void {
    this.me = { id, name };
    setText(byTestID("claim-name"), name);
    this.setClaimed(claimed === true || this.remembered() === id);
  }

  /** claimError shows a refused claim's sys.error inline; it says whether ref was the claim. */
  claimError(ref: number, message: string): boolean {
    if (ref !== this.claimRef || ref < 0) return false;
    this.claimRef = -1;
    this.say(this.claimMsg, message, "bad");
    return true;
  }

  private claim(): void {
    const pw = byTestID<HTMLInputElement>("claim-password").value;
    const again = byTestID<HTMLInputElement>("claim-password2").value;
    const problem = passwordProblem(pw, again);
    if (problem) return this.say(this.claimMsg, problem, "bad");
    this.say(this.claimMsg, "Claiming…", "");
    this.claimRef = this.client.send("player.claim", { password: pw });
  }

  private async login(): Promise<void> {
    const name = byTestID<HTMLInputElement>("login-name").value.trim();
    const password = byTestID<HTMLInputElement>("login-password").value;
    if (!name || !password) return this.say(this.loginMsg, "name and password, please", "bad");
    const submit = byTestID<HTMLButtonElement>("login-submit");
    submit.disabled = true;
    this.say(this.loginMsg, "Logging in…", "");
    try {
      const res = await fetch("/comet/login", {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name, password }),
      });
      const body = (await res.json().catch(() => ({}))) as LoginAnswer;
      if (!res.ok || !body.player) {
        this.say(this.loginMsg, body.error || `login failed (HTTP ${res.status})`, "bad");
        return;
      }
      // The cookie now names that player: a fresh page opens its session.
      this.remember(body.player.id);
      this.say(this.loginMsg, `Welcome back, ${body.player.name}…`, "ok");
      this.client.close();
      this.reload();
    } catch {
      this.say(this.loginMsg, "cannot reach the server; try again", "bad");
    } finally {
      submit.disabled = false;
    }
  }

  private toggle(form: HTMLFormElement, opener: HTMLButtonElement): void {
    const open = form.hidden;
    this.closeAll();
    if (!open) return;
    form.hidden = false;
    opener.setAttribute("aria-expanded", "true");
    if (form === this.loginForm && !byTestID<HTMLInputElement>("login-name").value) byTestID<HTMLInputElement>("login-name").value = this.me.name;
    form.querySelector<HTMLInputElement>(form === this.loginForm ? '[data-testid="login-password"]' : "input")?.focus();
  }

  private closeAll(): void {
    this.close(this.claimForm, this.claimOpen);
    this.close(this.loginForm, this.loginOpen);
  }

  private close(form: HTMLFormElement, opener: HTMLButtonElement): void {
    form.hidden = true;
    opener.setAttribute("aria-expanded", "false");
  }

  private say(box: HTMLElement, text: string, kind: "ok" | "bad" | ""): void {
    box.className = `account-msg ${kind}`.trim();
    setText(box, text);
  }

  private setClaimed(claimed: boolean): void {
    this.claimed = claimed;
    this.render();
  }

  private render(): void {
    setText(this.status, this.claimed ? "✓ claimed" : "guest");
    this.status.dataset.claimed = String(this.claimed);
    this.status.title = this.claimed ? "This name is yours: log in with it from any browser" : "Anyone may take this name until you claim it";
    setText(this.claimOpen, this.claimed ? "Claim again" : "Claim name");
  }

  // Storage may be unavailable (private modes, blocked cookies): the mark is
  // then live-only, which is harmless.
  private remember(id: string): void {
    try {
      localStorage.setItem(CLAIMED_KEY, id);
    } catch {
      /* no storage */
    }
  }

  private remembered(): string | null {
    try {
      return localStorage.getItem(CLAIMED_KEY);
    } catch {
      return null;
    }
  }
}
