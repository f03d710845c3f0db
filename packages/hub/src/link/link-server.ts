import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { EVENT_ID_NAMESPACE, isTendrilError, uuidV5 } from '@tendril/core';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { HubLogger } from '../logger.js';
import type { SitePresence } from '../presence.js';
import type { EventLog, LoggedEvent } from '../store/event-log.js';
import { freshnessSeconds, oldestSuccessAt, quarantinedOf } from '../console/site-view.js';
import type { HubCommandStore } from '../store/commands.js';
import type { ConsoleStore } from '../store/console-store.js';
import type { SiteStore } from '../store/sites.js';
import { upgradeKey, type UpgradeOutcomes } from '../upgrade-outcomes.js';
import { hubWritebackResult, type HubWritebackRow, type HubWritebackStore } from '../store/writebacks.js';
import {
  AGENT_FRAMES,
  Hello,
  LINK_CLOSE,
  LINK_PROTOCOL_VERSION,
  frameText,
  parseFrame,
  type CommandResultFrame,
  type EventsFrame,
  type HelloConnection,
  type WritebackUpdateFrame,
} from './protocol.js';

/** Link tuning (hub.yaml `link:`). */
export interface LinkSettings {
  /** The agent pings this often; a link silent for two intervals is closed. Default 10. */
  readonly pingSeconds: number;
  /** Largest frame either side may send; larger ones close the link (1009). */
  readonly maxFrameBytes: number;
  /** Unacknowledged `events` batches an agent may have in flight. */
  readonly credit: number;
  readonly maxBatchEvents: number;
  /** A link that has not said `hello` by then is closed. */
  readonly helloTimeoutSeconds: number;
}

export interface LinkServerDeps {
  readonly nodeId: string;
  readonly sites: SiteStore;
  readonly events: EventLog;
  readonly writebacks: HubWritebackStore;
  readonly commands: HubCommandStore;
  /** Freshness samples for the console's 7-day chart. */
  readonly console: ConsoleStore;
  readonly presence: SitePresence;
  /** Records the outcome of a remote upgrade the agent reports in its status, once. */
  readonly upgrades: UpgradeOutcomes;
  /** Tells every node (through PostgreSQL); the payload carries ids only. */
  readonly notify: (payload: Record<string, unknown>) => Promise<void>;
  readonly logger: HubLogger;
  readonly settings: LinkSettings;
  /** Called with every batch the log stored (webhook fan-out). */
  readonly onStored: (events: readonly LoggedEvent[]) => void;
  readonly now?: () => Date;
}

interface Session {
  readonly siteId: string;
  readonly ws: WebSocket;
  readonly openedAt: Date;
  readonly connections: ReadonlySet<string>;
  lastFrameAt: number;
  /** Frames are handled one after another, in the order they came. */
  queue: Promise<void>;
  /** `events` frames waiting to be stored, oldest first; stored in order, acknowledged in order. */
  batches: EventsFrame[];
  storing: boolean;
  pendingCredential?: { frameId: string };
  /** When this link last stored a freshness sample. */
  lastSampleAt?: number;
  /** The last upgrade outcome this link saw recorded: a repeated status skips even the read. */
  lastUpgradeKey?: string;
}

/** One freshness sample per site this often (the console's chart covers 7 days). */
const FRESHNESS_SAMPLE_MS = 5 * 60_000;

const frameId = () => randomBytes(8).toString('hex');

/** Most events stored in one transaction when several batches of a connection are waiting. */
const GROUP_EVENTS = 4000;

function closeReason(text: string): string {
  // A close reason is at most 123 bytes.
  return Buffer.from(text, 'utf8').subarray(0, 120).toString('utf8');
}

/**
 * The hub's side of the link (docs/hub.md): authenticates `hello`, keeps one link per site across
 * all nodes, stores relayed batches then acknowledges them, hands vendors' writebacks down, and
 * watches for silent links. Every frame is parsed against the protocol's schemas; a bad frame gets
 * an `error` answer or closes that link, never the hub.
 */
export class LinkServer {
  readonly #deps: LinkServerDeps;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<string, Session>();
  readonly #log: HubLogger;
  readonly #now: () => Date;
  readonly #watchdog: NodeJS.Timeout;
  #stopping = false;
  /** Relayed events this node stored, and those it acknowledged as already held. */
  readonly counters = { stored: 0, duplicates: 0 };

  constructor(deps: LinkServerDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ component: 'link' });
    this.#now = deps.now ?? (() => new Date());
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.settings.maxFrameBytes,
      perMessageDeflate: false,
    });
    const interval = Math.max(250, (deps.settings.pingSeconds * 1000) / 2);
    this.#watchdog = setInterval(() => this.#sweepSilent(), interval);
    this.#watchdog.unref();
  }

  /** Sites with a link on this node. */
  linkedSites(): string[] {
    return [...this.#sessions.keys()];
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Takes an HTTP upgrade on the link path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request));
  }

  #accept(ws: WebSocket, request: IncomingMessage): void {
    const remote = request.socket.remoteAddress ?? 'unknown';
    let session: Session | undefined;
    let helloSeen = false;
    const helloTimer = setTimeout(() => {
      if (!helloSeen) ws.close(LINK_CLOSE.helloTimeout, 'send hello first');
    }, this.#deps.settings.helloTimeoutSeconds * 1000);
    helloTimer.unref();
    ws.on('error', (error) => {
      // Oversized frames (1009) and broken sockets land here; the link closes, the hub goes on.
      this.#log.warn(
        {
          event: 'link.socket_error',
          siteId: session?.siteId,
          code: (error as { code?: string }).code ?? 'unknown',
        },
        'link socket error',
      );
    });
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
      if (session && this.#sessions.get(session.siteId) === session) {
        this.#sessions.delete(session.siteId);
        const s = session;
        void this.#deps.sites
          .linkClosed(s.siteId, this.#deps.nodeId, s.openedAt, this.#now())
          .catch(() => undefined);
      }
      if (session) this.#log.info({ event: 'link.closed', siteId: session.siteId, code }, 'link closed');
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        ws.close(LINK_CLOSE.protocolError, 'binary frames are not part of the protocol');
        return;
      }
      const text = frameText(data);
      if (!helloSeen) {
        helloSeen = true;
        clearTimeout(helloTimer);
        void this.#hello(ws, text, remote, (opened) => {
          session = opened;
        }).catch((error: unknown) => {
          this.#log.error(
            { event: 'link.hello_failed', code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL' },
            'hello could not be handled',
          );
          ws.close(1011, 'the hub could not handle hello; retry later');
        });
        return;
      }
      if (!session) return; // hello still being checked: the agent must wait for welcome
      session.lastFrameAt = Date.now();
      const current = session;
      current.queue = current.queue.then(() =>
        this.#frame(current, text).catch((error: unknown) => {
          this.#log.error(
            {
              event: 'link.frame_failed',
              siteId: current.siteId,
              code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
            },
            'a frame could not be handled; closing the link so the agent resends',
          );
          current.ws.close(1011, 'the hub could not store this; the agent resends after reconnecting');
        }),
      );
    });
  }

  /** Checks `hello`; on success registers the session (before `welcome` goes out) and returns it. */
  async #hello(
    ws: WebSocket,
    text: string,
    remote: string,
    register: (session: Session) => void,
  ): Promise<Session | undefined> {
    const parsed = parseFrame({ hello: Hello }, text);
    if (!parsed.ok) {
      this.#log.warn(
        { event: 'link.refused', reason: 'no-hello', remote },
        'link refused: the first frame was not hello',
      );
      ws.close(LINK_CLOSE.protocolError, closeReason(`the first frame must be hello: ${parsed.message}`));
      return undefined;
    }
    const hello = parsed.frame;
    if (hello.protocol !== LINK_PROTOCOL_VERSION) {
      ws.close(
        LINK_CLOSE.versionRefused,
        closeReason(
          `protocol ${hello.protocol} refused; this hub speaks ${LINK_PROTOCOL_VERSION}: upgrade the agent`,
        ),
      );
      return undefined;
    }
    const now = this.#now();
    const auth = await this.#deps.sites.authenticateAgent(hello.siteId, hello.credential, now);
    if (!auth.ok) {
      this.#log.warn(
        { event: 'link.refused', reason: auth.reason, siteId: hello.siteId, remote },
        'link refused: credential not accepted',
      );
      ws.close(
        auth.reason === 'revoked' ? LINK_CLOSE.revoked : LINK_CLOSE.badCredential,
        auth.reason === 'revoked'
          ? 'credential revoked: enroll again with a new key (tendril init --hub … --enroll …)'
          : 'credential not accepted for this site: check hub.siteId and the hub-credential secret',
      );
      return undefined;
    }
    if (ws.readyState !== ws.OPEN) return undefined;
    const siteConnections = await this.#deps.sites.connectionIdsOf(hello.siteId);
    const relay = await this.#deps.events.relayPositions(hello.siteId);
    const session: Session = {
      siteId: hello.siteId,
      ws,
      openedAt: now,
      connections: new Set(siteConnections),
      lastFrameAt: Date.now(),
      queue: Promise.resolve(),
      batches: [],
      storing: false,
    };
    const previous = this.#sessions.get(hello.siteId);
    this.#sessions.set(hello.siteId, session);
    if (previous) previous.ws.close(LINK_CLOSE.replaced, 'a newer link of this site opened');
    register(session);
    const known = hello.connections.filter((c: HelloConnection) => session.connections.has(c.id));
    await this.#deps.sites.linkOpened(
      hello.siteId,
      { node: this.#deps.nodeId, version: hello.agentVersion, hello: { connections: known } },
      now,
    );
    await this.#deps
      .notify({ kind: 'link-opened', siteId: hello.siteId, node: this.#deps.nodeId, at: now.getTime() })
      .catch(() => undefined);
    this.#send(session, {
      type: 'welcome',
      id: frameId(),
      replyTo: hello.id,
      siteId: hello.siteId,
      node: this.#deps.nodeId,
      pingSeconds: this.#deps.settings.pingSeconds,
      credit: this.#deps.settings.credit,
      maxFrameBytes: this.#deps.settings.maxFrameBytes,
      maxBatchEvents: this.#deps.settings.maxBatchEvents,
      relay: Object.fromEntries(siteConnections.map((id) => [id, relay[id] ?? null])),
    });
    this.#log.info(
      {
        event: 'link.opened',
        siteId: hello.siteId,
        agentVersion: hello.agentVersion,
        credentialId: auth.credentialId,
      },
      'link opened',
    );
    await this.#deps.presence.opened(hello.siteId, now);
    await this.#pushWritebacks(session, true);
    return session;
  }

  async #frame(session: Session, text: string): Promise<void> {
    const parsed = parseFrame(AGENT_FRAMES, text);
    if (!parsed.ok) {
      this.#log.warn(
        { event: 'link.bad_frame', siteId: session.siteId, problem: parsed.problem },
        'a frame was refused',
      );
      this.#send(session, {
        type: 'error',
        id: frameId(),
        ...(parsed.id ? { replyTo: parsed.id } : {}),
        code: parsed.problem === 'unknown-type' ? 'unknown_type' : 'malformed_frame',
        message: parsed.message,
      });
      return;
    }
    const frame = parsed.frame;
    switch (frame.type) {
      case 'ping':
        this.#send(session, { type: 'pong', id: frameId(), replyTo: frame.id });
        return;
      case 'pong':
        return;
      case 'events':
        await this.#events(session, frame);
        return;
      case 'status': {
        const now = this.#now();
        await this.#deps.sites.saveStatus(
          session.siteId,
          { ...frame.status, reportedAt: now.toISOString() },
          oldestSuccessAt(frame.status),
          now,
        );
        const upgrade = frame.status.lastUpgrade;
        if (upgrade && session.lastUpgradeKey !== upgradeKey(upgrade)) {
          if (await this.#deps.upgrades.record(session.siteId, upgrade, now))
            this.#log.info(
              {
                event: 'link.upgrade_outcome',
                siteId: session.siteId,
                commandId: upgrade.commandId,
                outcome: upgrade.outcome,
                fromVersion: upgrade.fromVersion,
                toVersion: upgrade.toVersion,
              },
              'the agent reported how an upgrade ended',
            );
          session.lastUpgradeKey = upgradeKey(upgrade);
        }
        await this.#deps.presence.health(session.siteId, frame.status.health, frame.status.problems, now);
        if (
          session.lastSampleAt === undefined ||
          now.getTime() - session.lastSampleAt >= FRESHNESS_SAMPLE_MS
        ) {
          session.lastSampleAt = now.getTime();
          await this.#deps.console.recordFreshness(
            session.siteId,
            freshnessSeconds(frame.status, now),
            frame.status.health,
            quarantinedOf(frame.status),
            now,
          );
        }
        return;
      }
      case 'writeback.update':
        await this.#writebackUpdate(session, frame);
        return;
      case 'command.result':
        await this.#commandResult(session, frame);
        return;
      case 'credential.saved':
        if (session.pendingCredential?.frameId === frame.replyTo) {
          session.pendingCredential = undefined;
          await this.#deps.sites.audit('hub', 'credential.saved', session.siteId, {}, this.#now());
          this.#log.info(
            { event: 'link.credential_saved', siteId: session.siteId },
            'the agent stored its new credential',
          );
        }
        return;
      case 'error':
        this.#log.warn(
          { event: 'link.agent_error', siteId: session.siteId, code: frame.code },
          'the agent reported an error',
        );
        return;
      default:
        frame satisfies never;
    }
  }

  async #events(session: Session, frame: EventsFrame): Promise<void> {
    const foreign =
      !session.connections.has(frame.connectionId) ||
      frame.events.some((e) => e.envelope.connectionId !== frame.connectionId);
    if (foreign || frame.events.length > this.#deps.settings.maxBatchEvents) {
      this.#send(session, {
        type: 'error',
        id: frameId(),
        replyTo: frame.id,
        code: foreign ? 'unknown_connection' : 'batch_too_large',
        message: foreign
          ? 'events for a connection this site was not assigned; nothing was stored'
          : `at most ${this.#deps.settings.maxBatchEvents} events per frame; nothing was stored`,
      });
      return;
    }
    session.batches.push(frame);
    if (!session.storing) void this.#storeBatches(session);
  }

  /**
   * Stores the waiting batches: consecutive batches of one connection go into one transaction
   * (group commit: while the database works on one group, the next frames queue up behind it),
   * then each batch is acknowledged, in the order it came. A failure closes the link; the agent
   * resends everything after its cursor.
   */
  async #storeBatches(session: Session): Promise<void> {
    session.storing = true;
    try {
      while (session.batches.length > 0) {
        const connectionId = session.batches[0]!.connectionId;
        const group: EventsFrame[] = [];
        let size = 0;
        // At most half the agent's window in one group: the agent keeps sending while the group
        // commits, so its next frames are read and parsed meanwhile (docs/hub.md, "Performance").
        const groupBatches = Math.max(1, Math.floor(this.#deps.settings.credit / 2));
        while (
          session.batches.length > 0 &&
          session.batches[0]!.connectionId === connectionId &&
          (group.length === 0 ||
            (group.length < groupBatches && size + session.batches[0]!.events.length <= GROUP_EVENTS))
        ) {
          const next = session.batches.shift()!;
          group.push(next);
          size += next.events.length;
        }
        const started = performance.now();
        const result = await this.#deps.events.ingest(
          session.siteId,
          connectionId,
          group.flatMap((f) => f.events),
          this.#now(),
        );
        this.#log.debug(
          {
            event: 'link.batch_stored',
            siteId: session.siteId,
            batches: group.length,
            stored: result.stored.length,
            duplicates: result.duplicates,
            ms: Math.round(performance.now() - started),
          },
          'batches stored',
        );
        const storedIds = new Set(result.stored.map((e) => e.envelope.id));
        for (const frame of group) {
          const stored = frame.events.filter((e) => storedIds.delete(e.envelope.id)).length;
          this.#send(session, {
            type: 'ack',
            id: frameId(),
            replyTo: frame.id,
            connectionId,
            sequence: result.relaySequence,
            stored,
            duplicates: frame.events.length - stored,
          });
        }
        this.counters.stored += result.stored.length;
        this.counters.duplicates += result.duplicates;
        if (result.stored.length > 0) this.#deps.onStored(result.stored);
      }
    } catch (error) {
      session.batches.length = 0;
      this.#log.error(
        {
          event: 'link.frame_failed',
          siteId: session.siteId,
          code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
        },
        'a batch could not be stored; closing the link so the agent resends',
      );
      session.ws.close(1011, 'the hub could not store this; the agent resends after reconnecting');
    } finally {
      session.storing = false;
    }
  }

  async #writebackUpdate(session: Session, frame: WritebackUpdateFrame): Promise<void> {
    const before = await this.#deps.writebacks.get(frame.writebackId);
    const now = this.#now();
    const row = await this.#deps.writebacks.applyUpdate(
      frame.writebackId,
      session.siteId,
      {
        status: frame.status,
        ...(frame.phase ? { phase: frame.phase } : {}),
        ...(frame.result ? { result: frame.result } : {}),
      },
      now,
    );
    if (!row || row.site_id !== session.siteId) return;
    this.#log.info(
      { event: 'link.writeback_update', siteId: session.siteId, writebackId: row.id, status: row.status },
      'writeback update',
    );
    // A command the agent refused before queuing it has no result event of its own (the agent
    // emits one only for commands it queued): the hub raises it, with the agent's id formula.
    const queuedByAgent = typeof frame.result?.['acceptedAt'] === 'string';
    if (row.status !== 'accepted' && before?.phase !== 'done' && !queuedByAgent) {
      const stored = await this.#deps.events.appendHubEvent(
        session.siteId,
        {
          id: uuidV5(JSON.stringify([row.connection_id, 'command', row.id, row.status]), EVENT_ID_NAMESPACE),
          type: `${row.resource_type.toLowerCase()}.writeback.${row.status}`,
          connectionId: row.connection_id,
          resourceType: row.resource_type,
          resourceId: '',
          sequence: (await this.#deps.events.relayPositions(session.siteId))[row.connection_id] ?? 0,
          data: hubWritebackResult(row),
        },
        now,
      );
      if (stored) this.#deps.onStored([stored]);
    }
  }

  /** Hands the site's queued writebacks down its link, when the link is on this node. */
  async pushWritebacks(siteId: string): Promise<void> {
    const session = this.#sessions.get(siteId);
    if (session) await this.#pushWritebacks(session, false);
  }

  async #pushWritebacks(session: Session, resendSent: boolean): Promise<void> {
    const rows = await this.#deps.writebacks.takeForLink(session.siteId, this.#now(), resendSent);
    for (const row of rows) this.#sendWriteback(session, row);
  }

  #sendWriteback(session: Session, row: HubWritebackRow): void {
    this.#send(session, {
      type: 'writeback',
      id: frameId(),
      writeback: {
        id: row.id,
        connectionId: row.connection_id,
        command: row.command,
        input: row.input,
        deadline: row.deadline,
      },
    });
  }

  /** Sends the site's queued remote commands down its link; false when the link is not on this node. */
  async pushCommands(siteId: string): Promise<boolean> {
    const session = this.#sessions.get(siteId);
    if (!session) return false;
    for (const command of await this.#deps.commands.takeQueued(siteId, this.#now()))
      this.#send(session, {
        type: 'command',
        id: frameId(),
        command: { id: command.id, name: command.name, args: command.args },
      });
    return true;
  }

  async #commandResult(session: Session, frame: CommandResultFrame): Promise<void> {
    const now = this.#now();
    const row = await this.#deps.commands.complete(
      frame.commandId,
      session.siteId,
      {
        status: frame.status,
        message: frame.message,
        ...(frame.output ? { output: frame.output } : {}),
      },
      now,
    );
    if (!row) return;
    await this.#deps.sites.audit(
      'agent',
      `command.${row.name}.${frame.status}`,
      session.siteId,
      { commandId: row.id },
      now,
    );
    this.#log.info(
      {
        event: 'link.command_result',
        siteId: session.siteId,
        commandId: row.id,
        name: row.name,
        status: frame.status,
      },
      'remote command answered',
    );
  }

  /** Sends a rotated credential to the site's agent if its link is on this node; false otherwise. */
  async rotateCredential(siteId: string): Promise<boolean> {
    const session = this.#sessions.get(siteId);
    if (!session) return false;
    const credential = await this.#deps.sites.issuePendingCredential(siteId, this.#now());
    const id = frameId();
    session.pendingCredential = { frameId: id };
    this.#send(session, { type: 'credential', id, credential });
    return true;
  }

  /** Closes the site's link on this node (revoked, purged, or replaced on another node). */
  closeSite(siteId: string, code: number, reason: string, openedBefore?: number): boolean {
    const session = this.#sessions.get(siteId);
    if (!session) return false;
    if (openedBefore !== undefined && session.openedAt.getTime() > openedBefore) return false;
    this.#sessions.delete(siteId);
    void this.#deps.sites
      .linkClosed(siteId, this.#deps.nodeId, session.openedAt, this.#now())
      .catch(() => undefined);
    session.ws.close(code, closeReason(reason));
    return true;
  }

  /** Refreshes `last_seen_at` of this node's linked sites (presence survives a node's quiet links). */
  async touchLinked(): Promise<void> {
    await this.#deps.sites.touch(this.linkedSites(), this.#now());
  }

  #sweepSilent(): void {
    const limit = this.#deps.settings.pingSeconds * 1000 * 2.5;
    const now = Date.now();
    for (const session of this.#sessions.values()) {
      if (now - session.lastFrameAt > limit) {
        this.#log.warn(
          { event: 'link.silent', siteId: session.siteId },
          'no ping for two intervals; closing the link',
        );
        this.#sessions.delete(session.siteId);
        void this.#deps.sites
          .linkClosed(session.siteId, this.#deps.nodeId, session.openedAt, this.#now())
          .catch(() => undefined);
        session.ws.terminate();
      }
    }
  }

  #send(session: Session, frame: Record<string, unknown>): void {
    if (session.ws.readyState === session.ws.OPEN) session.ws.send(JSON.stringify(frame));
  }

  /** Closes every link (agents reconnect, to another node if there is one) and stops the watchdog. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    for (const session of [...this.#sessions.values()]) {
      await this.#deps.sites
        .linkClosed(session.siteId, this.#deps.nodeId, session.openedAt, this.#now())
        .catch(() => undefined);
      session.ws.close(LINK_CLOSE.shuttingDown, 'the hub node is stopping; reconnect');
    }
    this.#sessions.clear();
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
