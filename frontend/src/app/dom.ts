// Small DOM helpers. User data only ever goes in through textContent (el's
// string children), never innerHTML.

/** byTestID finds the shell's element with data-testid=id, or throws. */
export function byTestID<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const e = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!e) throw new Error(`page shell: no element [data-testid="${id}"]`);
  return e;
}

type Attrs = Record<string, string | number | boolean | undefined>;

/** el creates an element; attributes by name (false/undefined skipped), string children as text. */
export function el<K extends keyof HTMLElementTagNameMap>(tagName: K, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tagName);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") e.className = String(v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null) e.append(typeof c === "string" ? document.createTextNode(c) : c);
  return e;
}

/** setText changes an element's text only when it differs (no layout churn). */
export function setText(e: HTMLElement, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

/** toast shows a short message at the bottom for a few seconds. */
export function toast(text: string, kind: "error" | "info" = "error"): void {
  const box = document.querySelector('[data-testid="toasts"]');
  if (!box) return;
  const t = el("div", { class: `toast ${kind}`, "data-testid": "toast", role: "status" }, text);
  box.append(t);
  while (box.children.length > 3) box.firstElementChild?.remove();
  window.setTimeout(() => t.remove(), 4000);
}

/** isTyping says whether keyboard focus is in a text field (chat, name, forms). */
export function isTyping(t: EventTarget | null): boolean {
  return t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
}
