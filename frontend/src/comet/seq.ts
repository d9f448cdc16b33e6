// Exactly-once, in-order delivery: the server numbers its events 1, 2, 3 …
// per session and may resend some after a reconnect; the client keeps the
// highest seq it has delivered and drops anything at or below it.

/** SeqFilter remembers the highest delivered seq and drops repeats. */
export class SeqFilter {
  /** Highest seq accepted so far (0 before any); sent as ?last= on reconnect. */
  last = 0;
  /** Events dropped because their seq was not above last. */
  duplicates = 0;
  /** Times a seq jumped past last+1 (legitimate only just before a sys.reset). */
  gaps = 0;

  /** accept reports whether an event with this seq is new, and records it if so. */
  accept(seq: number): boolean {
    if (seq <= this.last) {
      this.duplicates++;
      return false;
    }
    if (seq !== this.last + 1) this.gaps++;
    this.last = seq;
    return true;
  }

  /** reset forgets everything (a new session numbers from 1 again). */
  reset(): void {
    this.last = 0;
  }
}
