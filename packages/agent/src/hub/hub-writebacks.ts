import { acceptWritebackRequest, type WritebackApiOptions } from '@tendril/api';
import { isTendrilError } from '@tendril/core';
import type { WritebackCommandFrame } from '@tendril/hub';
import { writebackResult, type WritebackRecord } from '@tendril/store';
import type { Logger } from 'pino';

/** The client id of commands that came through the hub (their scope: every configured connection). */
export const HUB_CLIENT_ID = 'hub';

type Update = {
  type: 'writeback.update';
  id: string;
  writebackId: string;
  status: 'accepted' | 'written' | 'failed' | 'timed_out';
  phase?: 'queued' | 'executing' | 'verifying' | 'done';
  result?: Record<string, unknown>;
};

const frameId = () => `u${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/**
 * The agent's side of hub writebacks: a vendor's command from the link becomes an ordinary local
 * writeback through the same intake as `POST /v1/writebacks`, with the hub's command id as both
 * its id and its idempotency key (a resend after a reconnect finds the same command, never a
 * second one). Its progress goes back as `writeback.update` frames until it is final.
 */
export class HubWritebacks {
  readonly #options: WritebackApiOptions;
  readonly #log: Logger;
  readonly #send: (frame: Update) => boolean;
  /** Commands being watched, with what was last reported. */
  readonly #watched = new Map<string, string>();
  readonly #watchMs: number;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;
  #stopped = false;

  constructor(options: {
    writeback: WritebackApiOptions;
    logger: Logger;
    send: (frame: Update) => boolean;
    watchMs?: number;
  }) {
    this.#options = options.writeback;
    this.#log = options.logger;
    this.#send = options.send;
    // Short while something is in flight (a vendor waits on it), and no timer at all otherwise.
    this.#watchMs = options.watchMs ?? 20;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #watch(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.#check(), this.#watchMs);
    this.#timer.unref();
  }

  async receive(frame: WritebackCommandFrame): Promise<void> {
    const command = frame.writeback;
    const result = await acceptWritebackRequest(
      this.#options,
      { id: HUB_CLIENT_ID, connectionIds: this.#options.connections.map((c) => c.id) },
      {
        command: command.command,
        connectionId: command.connectionId,
        idempotencyKey: command.id,
        deadline: command.deadline,
        input: command.input,
      },
      { id: command.id },
    );
    switch (result.kind) {
      case 'created':
      case 'existing':
        this.#log.info(
          {
            event: 'hub.writeback_received',
            writebackId: command.id,
            connectionId: command.connectionId,
            kind: result.kind,
          },
          'writeback from the hub',
        );
        this.#report(result.record, true);
        return;
      case 'key-reused':
        this.#reject(command.id, 'validation_failed', 'the hub sent this command id with another payload');
        return;
      case 'rejected': {
        const late = result.errors?.some(
          (e) => e.message === 'must be in the future' && (e.path === 'deadline' || e.path === 'input.start'),
        );
        if (late) {
          this.#send({
            type: 'writeback.update',
            id: frameId(),
            writebackId: command.id,
            status: 'timed_out',
            phase: 'done',
          });
          return;
        }
        const detail = result.errors?.map((e) => `${e.path} ${e.message}`).join('; ');
        this.#reject(
          command.id,
          result.code === 'forbidden' ? 'permission_denied' : result.code,
          detail ? `${result.message}: ${detail}` : result.message,
        );
        return;
      }
      default:
        result satisfies never;
    }
  }

  #reject(writebackId: string, code: string, message: string): void {
    this.#log.warn(
      { event: 'hub.writeback_rejected', writebackId, reason: code },
      'a writeback from the hub was rejected',
    );
    this.#send({
      type: 'writeback.update',
      id: frameId(),
      writebackId,
      status: 'failed',
      phase: 'done',
      result: { error: { code, message } },
    });
  }

  /** Sends the command's state when it changed (or always, when `force`), and keeps watching it until final. */
  #report(record: WritebackRecord, force = false): void {
    const mark = `${record.status}/${record.phase}`;
    if (!force && this.#watched.get(record.id) === mark) return;
    const final = record.status !== 'accepted';
    const sent = this.#send({
      type: 'writeback.update',
      id: frameId(),
      writebackId: record.id,
      status: record.status,
      phase: final ? 'done' : record.phase === 'done' ? 'queued' : record.phase,
      result: writebackResult(record),
    });
    if (final && sent) this.#watched.delete(record.id);
    else {
      this.#watched.set(record.id, sent ? mark : '');
      this.#watch();
    }
  }

  async #check(): Promise<void> {
    if (this.#watched.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    if (this.#checking || this.#watched.size === 0) return;
    this.#checking = true;
    try {
      for (const id of [...this.#watched.keys()]) {
        const record = await this.#options.store.writebacks.get(id);
        if (record) this.#report(record);
        else this.#watched.delete(id);
      }
    } catch (error) {
      this.#log.warn(
        {
          event: 'hub.writeback_watch_failed',
          code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
        },
        'could not read writeback states; trying again',
      );
    } finally {
      this.#checking = false;
    }
  }
}
