import { isTendrilError, type StoredEvent } from '@tendril/core';
import type { Store } from '@tendril/store';
import type { Logger } from 'pino';

/** What the relay needs from the link: a way to send a frame, and the hub's limits from `welcome`. */
export interface RelayLink {
  /** A frame, or its JSON text (serialised once: the relay measures a batch before sending it). */
  send(frame: Record<string, unknown> | string): boolean;
  readonly credit: number;
  readonly maxBatchEvents: number;
  readonly maxFrameBytes: number;
}

interface InFlight {
  readonly connectionId: string;
  readonly highest: number;
}

/**
 * Streams the outbox to the hub (docs/hub.md): per connection in sequence order, at least once.
 * At most `credit` batches are unacknowledged at a time; the relay cursor in the store moves only
 * on an ack, so after any reconnect everything after it is sent again (the hub drops what it
 * already holds). The outbox keeps filling while the hub is away: nothing here slows polling down.
 */
export class Relay {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #batchEvents: number;
  readonly #pollMs: number;
  #link: RelayLink | undefined;
  /** Per connection: the highest sequence handed to the link (sent, maybe not yet acknowledged). */
  readonly #sent = new Map<string, number>();
  readonly #inFlight = new Map<string, InFlight>();
  /** Connections the hub relays, in round-robin order. */
  #connections: string[] = [];
  #next = 0;
  #pumping = false;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  /** Connections whose next event is larger than the hub accepts in one frame. */
  readonly #stuck = new Set<string>();

  constructor(options: { store: Store; logger: Logger; batchEvents: number; pollMs?: number }) {
    this.#store = options.store;
    this.#log = options.logger;
    this.#batchEvents = options.batchEvents;
    this.#pollMs = options.pollMs ?? 500;
  }

  /**
   * A link is up (after `welcome`): resume each connection from its relay cursor, or from where the
   * hub's log ends when that is further (a re-enrolled or restored agent skips what the hub holds).
   */
  async attach(
    link: RelayLink,
    hubPositions: Readonly<Record<string, number | null>>,
    connectionIds: readonly string[],
  ) {
    this.#link = link;
    this.#inFlight.clear();
    this.#sent.clear();
    this.#stuck.clear();
    this.#connections = connectionIds.filter((id) => Object.hasOwn(hubPositions, id));
    for (const id of connectionIds) {
      if (!Object.hasOwn(hubPositions, id))
        this.#log.warn(
          { event: 'hub.relay_skipped', connectionId: id },
          'this connection is not one the hub assigned to the site; its events are not relayed (enroll it on the hub)',
        );
    }
    for (const id of this.#connections) {
      const local = (await this.#store.getRelayCursor(id)) ?? 0;
      const hub = hubPositions[id] ?? 0;
      if (hub > local) await this.#store.saveRelayCursor(id, hub);
      this.#sent.set(id, Math.max(local, hub));
    }
    this.#schedule(0);
  }

  /** The link went down: unacknowledged batches will be sent again from the cursor on the next link. */
  detach(): void {
    this.#link = undefined;
    this.#inFlight.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The hub stored a batch (or already held it): move the cursor, and send more. */
  async acknowledged(replyTo: string, connectionId: string, sequence: number): Promise<void> {
    const flight = this.#inFlight.get(replyTo);
    if (!flight) return;
    this.#inFlight.delete(replyTo);
    if (flight.connectionId !== connectionId) return;
    await this.#store.saveRelayCursor(connectionId, Math.min(sequence, flight.highest));
    this.#schedule(0);
  }

  /** The hub refused a batch: it is not acknowledged; the caller drops the link so it is resent. */
  refused(replyTo: string): InFlight | undefined {
    const flight = this.#inFlight.get(replyTo);
    this.#inFlight.delete(replyTo);
    return flight;
  }

  #schedule(ms: number): void {
    if (!this.#link) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#pump();
    }, ms);
    this.#timer.unref();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        await this.#fill();
      } while (this.#again);
    } catch (error) {
      this.#log.error(
        { event: 'hub.relay_failed', code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL' },
        'relay could not read the outbox; it tries again',
      );
    } finally {
      this.#pumping = false;
      // Idle: look again soon (new events arrive from the scheduler in this process or another).
      if (this.#link && !this.#timer) this.#schedule(this.#pollMs);
    }
  }

  /** Sends batches while credit lasts, round-robin over connections. */
  async #fill(): Promise<void> {
    let idle = 0;
    while (this.#link && this.#inFlight.size < this.#link.credit && idle < this.#connections.length) {
      const connectionId = this.#connections[this.#next % this.#connections.length]!;
      this.#next += 1;
      if (this.#stuck.has(connectionId)) {
        idle += 1;
        continue;
      }
      const after = this.#sent.get(connectionId) ?? 0;
      const limit = Math.min(this.#batchEvents, this.#link.maxBatchEvents);
      const events = await this.#store.listEvents({ connectionId, afterSequence: after, limit });
      if (events.length === 0) {
        idle += 1;
        continue;
      }
      idle = 0;
      if (!this.#sendBatch(connectionId, events)) return;
    }
  }

  /** Sends one batch, halving it until it fits the hub's frame limit. False when the link is gone. */
  #sendBatch(connectionId: string, events: readonly StoredEvent[]): boolean {
    const link = this.#link;
    if (!link) return false;
    let count = events.length;
    for (;;) {
      const batch = events.slice(0, count);
      const id = `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      const frame = {
        type: 'events',
        id,
        connectionId,
        events: batch.map((e) => ({
          envelope: e.envelope,
          kind: e.kind,
          sourceId: e.sourceId,
          connectorId: e.connectorId,
          refs: e.refs,
        })),
      };
      const text = JSON.stringify(frame);
      const bytes = Buffer.byteLength(text);
      if (bytes > link.maxFrameBytes * 0.9) {
        if (count === 1) {
          this.#stuck.add(connectionId);
          this.#log.error(
            { event: 'hub.relay_event_too_large', connectionId, eventId: batch[0]!.envelope.id, bytes },
            "an event is larger than the hub's frame limit; relaying this connection stops until link.maxFrameBytes is raised on the hub",
          );
          return true;
        }
        count = Math.max(1, Math.floor(count / 2));
        continue;
      }
      const highest = batch[batch.length - 1]!.envelope.sequence;
      this.#inFlight.set(id, { connectionId, highest });
      this.#sent.set(connectionId, highest);
      if (!link.send(text)) {
        this.#inFlight.delete(id);
        return false;
      }
      return true;
    }
  }
}
