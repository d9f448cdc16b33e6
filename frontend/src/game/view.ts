// The client's copy of a room's world: a snapshot, then diffs, applied exactly
// as docs/PROTOCOL.md ("Game: rooms, snapshots and diffs") says. A diff whose base tick is not ours (or that
// changes an entity we do not hold) is refused, and the caller asks for
// room.resync.

/** One entity: its kind, its integer fields in wire order, and a label (a player's name). */
export interface Entity {
  id: number;
  kind: string;
  f: number[];
  label?: string;
}

export type WireEntity = (number | string)[];

export interface SnapshotData {
  t: number;
  m: string;
  e: WireEntity[];
}

export interface DiffData {
  t: number;
  b: number;
  a?: WireEntity[];
  c?: number[][];
  r?: number[];
}

/** The id of the field entity (world size) in every mode. */
export const FIELD_ID = 1048576;

/** decodeEntity turns [id, kind, f0 … fn, label?] into an Entity. */
export function decodeEntity(e: WireEntity): Entity {
  if (!Array.isArray(e) || e.length < 2 || typeof e[0] !== "number" || typeof e[1] !== "string") {
    throw new Error("malformed entity");
  }
  const hasLabel = e.length > 2 && typeof e[e.length - 1] === "string";
  const f = e.slice(2, hasLabel ? -1 : undefined) as number[];
  const ent: Entity = { id: e[0], kind: e[1], f };
  if (hasLabel) ent.label = e[e.length - 1] as string;
  return ent;
}

/** View holds the entities of the latest applied tick. */
export class View {
  tick = -1;
  match = "";
  readonly ents = new Map<number, Entity>();

  /** ready is true once a snapshot was applied (and not cleared since). */
  get ready(): boolean {
    return this.tick >= 0;
  }

  clear(): void {
    this.tick = -1;
    this.match = "";
    this.ents.clear();
  }

  /** applySnapshot replaces everything held. */
  applySnapshot(s: SnapshotData): void {
    this.ents.clear();
    for (const w of s.e) {
      const e = decodeEntity(w);
      this.ents.set(e.id, e);
    }
    this.tick = s.t;
    this.match = s.m;
  }

  /**
   * applyDiff applies d and returns true, or returns false without changing
   * anything when d does not apply to this view (a missed diff).
   */
  applyDiff(d: DiffData): boolean {
    if (!this.ready || d.b !== this.tick) return false;
    for (const c of d.c ?? []) {
      if (!this.ents.has(c[0]) && !(d.a ?? []).some((a) => a[0] === c[0])) return false;
    }
    for (const w of d.a ?? []) {
      const e = decodeEntity(w);
      this.ents.set(e.id, e);
    }
    for (const c of d.c ?? []) {
      const ent = this.ents.get(c[0]) as Entity;
      for (let k = 1; k + 1 < c.length; k += 2) ent.f[c[k]] = c[k + 1];
    }
    for (const id of d.r ?? []) this.ents.delete(id);
    this.tick = d.t;
    return true;
  }

  /** field returns the world size from the field entity, or null before it arrives. */
  field(): { w: number; h: number } | null {
    const f = this.ents.get(FIELD_ID);
    return f ? { w: f.f[0], h: f.f[1] } : null;
  }

  /** ofKind lists the entities of one kind in id order. */
  ofKind(kind: string): Entity[] {
    const out: Entity[] = [];
    for (const e of this.ents.values()) if (e.kind === kind) out.push(e);
    return out;
  }
}
