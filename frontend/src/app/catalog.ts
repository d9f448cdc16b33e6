// What the server says about its modes (GET /api/modes): each mode's title
// and room sizes, for the create-room form. Servers that list only names
// ({"modes": ["name", …]}) leave the form at its defaults.

export interface ModeInfo {
  name: string;
  title?: string;
  /** players a match needs, the most a room may hold, the size of a new room */
  min?: number;
  max?: number;
  size?: number;
}

/** The form's limits when the server does not say. */
export const FORM_DEFAULT = { min: 2, max: 64, size: 8 };

const posInt = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined);

/**
 * parseModes reads a GET /api/modes answer: {"modes": [{"name", "title",
 * "min_players", "max_players", "default_players" (or "default_max")}]} or
 * {"modes": ["name", …]}. Anything malformed is left out.
 */
export function parseModes(body: unknown): ModeInfo[] {
  const list = (body as { modes?: unknown } | null)?.modes;
  if (!Array.isArray(list)) return [];
  const out: ModeInfo[] = [];
  for (const m of list) {
    if (typeof m === "string") {
      out.push({ name: m });
      continue;
    }
    if (!m || typeof m !== "object" || typeof (m as { name?: unknown }).name !== "string") continue;
    const r = m as Record<string, unknown>;
    const info: ModeInfo = { name: r.name as string };
    if (typeof r.title === "string" && r.title) info.title = r.title;
    info.min = posInt(r.min_players);
    info.max = posInt(r.max_players);
    info.size = posInt(r.default_players) ?? posInt(r.default_max);
    out.push(info);
  }
  return out;
}

/** limits gives the create form's min, max and starting value for a mode. */
export function limits(info: ModeInfo | undefined): { min: number; max: number; size: number } {
  const max = info?.max ?? FORM_DEFAULT.max;
  const min = Math.min(max, Math.max(2, info?.min !== undefined ? Math.min(info.min, max) : FORM_DEFAULT.min));
  const size = Math.max(min, Math.min(max, info?.size ?? FORM_DEFAULT.size));
  return { min, max, size };
}

/** fetchModes asks the server; an error or an old server gives []. */
export async function fetchModes(): Promise<ModeInfo[]> {
  try {
    const res = await fetch("/api/modes", { cache: "no-store" });
    if (!res.ok) return [];
    return parseModes(await res.json());
  } catch {
    return [];
  }
}
