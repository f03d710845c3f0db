import type { WritebackRecord } from '@tendril/store';

/** Commands that book a slot: two of them on one connection and day contend for the same rows. */
const SLOT_COMMANDS: ReadonlySet<string> = new Set(['Appointment.book', 'Appointment.reschedule']);

/**
 * The rows a command contends for (docs/writeback.md, "Concurrent bookings"): bookings and
 * reschedules of one connection and day (the date of `input.start`) share a key; every other
 * command contends with nothing (`undefined`).
 */
export function contentionKey(record: WritebackRecord): string | undefined {
  const start = record.input['start'];
  return SLOT_COMMANDS.has(record.command) && typeof start === 'string'
    ? `${record.connectionId}\u0000${start.slice(0, 10)}`
    : undefined;
}

/** A place in one key's line, taken when the command is claimed. */
export interface Turn {
  /** Resolves once every ticket of the same key taken before this one has been given back. */
  readonly ready: Promise<void>;
  /** Gives the ticket back (its turn, or its place in line if its turn has not come); idempotent. */
  release(): void;
}

/**
 * Tickets per contention key, served in the order they were taken (the claim order), so of two
 * bookings of one slot the first accepted goes first. A ticket given back before its turn leaves
 * the line without holding anyone up.
 */
export interface Turns {
  take(key: string): Turn;
}

interface Ticket {
  readonly open: () => void;
}

export function createTurns(): Turns {
  const lines = new Map<string, Ticket[]>();
  return {
    take(key) {
      let open!: () => void;
      const ready = new Promise<void>((resolve) => (open = resolve));
      const ticket: Ticket = { open };
      const line = lines.get(key);
      if (line) line.push(ticket);
      else {
        lines.set(key, [ticket]);
        open();
      }
      let released = false;
      return {
        ready,
        release() {
          if (released) return;
          released = true;
          const current = lines.get(key)!;
          const at = current.indexOf(ticket);
          current.splice(at, 1);
          if (current.length === 0) lines.delete(key);
          else if (at === 0) current[0]!.open();
        },
      };
    },
  };
}
