import type { WritebackApiOptions, StatusSnapshot } from '@tendril/api';
import { isTendrilError, writebackCapabilities, WRITEBACK_DISABLED, type HubLinkConfig } from '@tendril/core';
import {
  AUTH_CLOSE_CODES,
  HUB_FRAMES,
  LINK_PATH,
  LINK_PROTOCOL_VERSION,
  frameText,
  parseFrame,
  Welcome,
  type HelloConnection,
} from '@tendril/hub';
import type { Store } from '@tendril/store';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { storeRotatedCredential } from './credential-store.js';
import { HubWritebacks } from './hub-writebacks.js';
import { Relay } from './relay.js';
import { runRemoteCommand, type RemoteCommandContext } from './remote-commands.js';
import { statusReport } from './status-report.js';

export interface HubLinkOptions {
  readonly hub: HubLinkConfig;
  readonly store: Store;
  readonly logger: Logger;
  /** The agent's writeback intake (what `POST /v1/writebacks` uses). */
  readonly writeback: WritebackApiOptions;
  readonly status: () => Promise<StatusSnapshot>;
  readonly version: string;
  /** secrets.enc beside the config, where a rotated credential is stored. */
  readonly secretsFile?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Reconnect delays: 1 s doubling to 30 s, jittered; a refused credential backs off to 5 minutes. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly refusedMaxMs?: number };
  /** A status frame goes out on change (checked this often) and at least every minute. */
  readonly statusCheckMs?: number;
  readonly random?: () => number;
  /** What remote commands act on (docs/hub.md, "Remote commands"); without it every command is refused. */
  readonly commands?: RemoteCommandContext;
}

export type HubLinkState = 'connecting' | 'linked' | 'waiting' | 'stopped';

export interface HubLink {
  readonly state: HubLinkState;
  /** Resolves once linked (tests and the demo); rejects after `timeoutMs`. */
  whenLinked(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const frameId = () => `a${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const STATUS_FORCE_MS = 60_000;

function linkUrl(base: string): string {
  const url = new URL(LINK_PATH, base.endsWith('/') ? base : `${base}/`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * The agent's link to its hub (docs/hub.md): dials out, says `hello`, relays the outbox, answers
 * writebacks, reports status, and pings every interval; two unanswered pings and the link is
 * dropped. It reconnects forever with jittered backoff. Nothing here stops the agent's own work:
 * polls and the local outbox go on while the hub is away, and the relay catches up from its cursor.
 */
export function startHubLink(options: HubLinkOptions): HubLink {
  const log = options.logger.child({ component: 'hub-link', siteId: options.hub.siteId });
  const random = options.random ?? Math.random;
  const initialMs = options.backoff?.initialMs ?? 1000;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  const refusedMaxMs = options.backoff?.refusedMaxMs ?? 300_000;
  let credential = options.hub.credential;
  let state: HubLinkState = 'connecting';
  let attempt = 0;
  let ws: WebSocket | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  let linkedWaiters: (() => void)[] = [];
  let stopped = false;
  let lastRefusal: number | undefined;

  const relay = new Relay({ store: options.store, logger: log, batchEvents: options.hub.batchEvents });
  /** Sends a frame, or its JSON text when the caller already has it (the relay measures its batches). */
  const send = (frame: Record<string, unknown> | string): boolean => {
    if (!ws || ws.readyState !== WebSocket.OPEN || state !== 'linked') return false;
    ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    return true;
  };
  const writebacks = new HubWritebacks({ writeback: options.writeback, logger: log, send });

  const helloConnections = (): HelloConnection[] =>
    options.writeback.connections.map((connection) => {
      const settings = connection.writeback ?? WRITEBACK_DISABLED;
      let capabilities: HelloConnection['capabilities'] = {};
      try {
        capabilities = writebackCapabilities(options.writeback.connectorFor(connection).writeback, settings);
      } catch {
        capabilities = {};
      }
      return {
        id: connection.id,
        connector: connection.connector,
        capabilities,
        defaultDeadlineSeconds: settings.defaultDeadlineSeconds,
      };
    });

  function scheduleReconnect(refused: boolean): void {
    if (stopped) return;
    state = 'waiting';
    const cap = refused ? refusedMaxMs : maxMs;
    const base = Math.min(cap, initialMs * 2 ** Math.min(attempt, 20));
    attempt += 1;
    const delay = Math.round(base / 2 + (random() * base) / 2);
    reconnectTimer = setTimeout(dial, delay);
    reconnectTimer.unref();
  }

  function teardown(): void {
    if (pingTimer) clearInterval(pingTimer);
    if (statusTimer) clearInterval(statusTimer);
    pingTimer = undefined;
    statusTimer = undefined;
    relay.detach();
  }

  function dial(): void {
    if (stopped) return;
    state = 'connecting';
    const socket = new WebSocket(linkUrl(options.hub.url), {
      handshakeTimeout: 15_000,
      maxPayload: 64 * 1024 * 1024,
      perMessageDeflate: false,
    });
    ws = socket;
    let welcomed = false;
    let helloId = '';
    const welcomeTimer = setTimeout(() => {
      if (!welcomed) socket.terminate();
    }, 20_000);
    welcomeTimer.unref();

    socket.on('open', () => {
      helloId = frameId();
      socket.send(
        JSON.stringify({
          type: 'hello',
          id: helloId,
          protocol: LINK_PROTOCOL_VERSION,
          siteId: options.hub.siteId,
          credential,
          agentVersion: options.version,
          connections: helloConnections(),
        }),
      );
    });
    socket.on('error', (error) => {
      log.warn(
        { event: 'hub.link_error', code: (error as { code?: string }).code ?? 'unknown' },
        'the hub link failed; local syncing continues and the link retries',
      );
    });
    socket.on('close', (code, reasonBuffer) => {
      clearTimeout(welcomeTimer);
      if (ws === socket) ws = undefined;
      const wasLinked = state === 'linked';
      teardown();
      if (stopped) return;
      const reason = reasonBuffer.toString('utf8');
      const refused = AUTH_CLOSE_CODES.includes(code);
      if (refused) {
        // Plainly, once per refusal streak: the agent goes on syncing locally, nothing is relayed.
        if (lastRefusal !== code)
          log.error(
            { event: 'hub.link_refused', closeCode: code, reason },
            `the hub refused this agent (${reason || code}); nothing is relayed until this is fixed, local syncing continues`,
          );
        lastRefusal = code;
      } else {
        lastRefusal = undefined;
        log.warn(
          { event: 'hub.link_closed', closeCode: code, reason, wasLinked },
          'the hub link closed; reconnecting with backoff',
        );
      }
      scheduleReconnect(refused);
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = frameText(data);
      if (!welcomed) {
        const parsed = parseFrame({ welcome: Welcome }, text);
        if (!parsed.ok || parsed.frame.replyTo !== helloId) {
          log.warn(
            { event: 'hub.link_bad_welcome' },
            'the hub did not answer hello with welcome; reconnecting',
          );
          socket.close(4004, 'expected welcome');
          return;
        }
        welcomed = true;
        clearTimeout(welcomeTimer);
        onWelcome(socket, parsed.frame);
        return;
      }
      void handle(socket, text).catch((error: unknown) =>
        log.error(
          { event: 'hub.link_frame_failed', code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL' },
          'a frame from the hub could not be handled',
        ),
      );
    });
  }

  let awaitingPong = false;
  let missed = 0;

  function onWelcome(socket: WebSocket, welcome: Welcome): void {
    state = 'linked';
    attempt = 0;
    lastRefusal = undefined;
    log.info({ event: 'hub.linked', node: welcome.node }, 'linked to the hub');
    for (const waiter of linkedWaiters.splice(0)) waiter();
    awaitingPong = false;
    missed = 0;
    pingTimer = setInterval(() => {
      if (awaitingPong) missed += 1;
      else missed = 0;
      if (missed >= 2) {
        log.warn({ event: 'hub.link_silent' }, 'two pings unanswered; dropping the link and reconnecting');
        socket.terminate();
        return;
      }
      awaitingPong = true;
      send({ type: 'ping', id: frameId() });
    }, welcome.pingSeconds * 1000);
    pingTimer.unref();
    let lastStatus = '';
    let lastStatusAt = 0;
    const sendStatus = async () => {
      const report = statusReport(await options.status());
      // Lag grows every second by itself: a change means a change of state, not of the clock.
      const text = JSON.stringify(report, (key, value: unknown) =>
        key === 'lagSeconds' ? undefined : value,
      );
      if (text === lastStatus && Date.now() - lastStatusAt < STATUS_FORCE_MS) return;
      if (send({ type: 'status', id: frameId(), status: report })) {
        lastStatus = text;
        lastStatusAt = Date.now();
      }
    };
    void sendStatus().catch(() => undefined);
    statusTimer = setInterval(() => void sendStatus().catch(() => undefined), options.statusCheckMs ?? 5000);
    statusTimer.unref();
    void relay
      .attach(
        {
          send,
          credit: welcome.credit,
          maxBatchEvents: welcome.maxBatchEvents,
          maxFrameBytes: welcome.maxFrameBytes,
        },
        welcome.relay,
        options.writeback.connections.map((c) => c.id),
      )
      .catch((error: unknown) => {
        log.error(
          { event: 'hub.relay_failed', code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL' },
          'relay could not start; reconnecting',
        );
        socket.terminate();
      });
  }

  async function handle(socket: WebSocket, text: string): Promise<void> {
    const parsed = parseFrame(HUB_FRAMES, text);
    if (!parsed.ok) {
      send({
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
      case 'pong':
        awaitingPong = false;
        missed = 0;
        return;
      case 'ping':
        send({ type: 'pong', id: frameId(), replyTo: frame.id });
        return;
      case 'ack':
        await relay.acknowledged(frame.replyTo, frame.connectionId, frame.sequence);
        return;
      case 'credit':
        return; // the window is fixed per link in this protocol version; a new one comes with the next welcome
      case 'writeback':
        await writebacks.receive(frame);
        return;
      case 'command': {
        const answer = options.commands
          ? await runRemoteCommand(frame, options.commands, { credential })
          : ({ status: 'refused', message: 'this agent takes no remote commands' } as const);
        log.info(
          {
            event: 'hub.command',
            command: frame.command.name,
            commandId: frame.command.id,
            status: answer.status,
          },
          'remote command from the hub',
        );
        const text = JSON.stringify({
          type: 'command.result',
          id: frameId(),
          commandId: frame.command.id,
          status: answer.status,
          message: answer.message,
          ...('output' in answer && answer.output ? { output: answer.output } : {}),
        });
        if (socket.readyState !== WebSocket.OPEN) return;
        // The answer leaves before a restart cuts the link.
        socket.send(text, () => {
          if ('after' in answer && answer.after) answer.after();
        });
        return;
      }
      case 'credential':
        try {
          await storeRotatedCredential({
            secretsFile: options.secretsFile,
            env: options.env,
            current: credential,
            next: frame.credential,
          });
          credential = frame.credential;
          send({ type: 'credential.saved', id: frameId(), replyTo: frame.id });
          log.info({ event: 'hub.credential_rotated' }, 'stored the rotated hub credential in secrets.enc');
        } catch (error) {
          log.error(
            {
              event: 'hub.credential_rotation_failed',
              code: isTendrilError(error) ? error.code : 'TENDRIL_E_INTERNAL',
            },
            isTendrilError(error) ? error.message : 'the rotated credential could not be stored',
          );
          send({
            type: 'error',
            id: frameId(),
            replyTo: frame.id,
            code: 'credential_not_stored',
            message: 'see the agent log',
          });
        }
        return;
      case 'error': {
        const refused = frame.replyTo ? relay.refused(frame.replyTo) : undefined;
        log.warn(
          { event: 'hub.link_error_frame', code: frame.code, connectionId: refused?.connectionId },
          `the hub answered with an error: ${frame.message}`,
        );
        // A refused batch was not stored: drop the link so the relay resends from its cursor.
        if (refused) socket.close(1000, 'resending after a refused batch');
        return;
      }
      default:
        frame satisfies never;
    }
  }

  dial();

  return {
    get state() {
      return state;
    },
    whenLinked(timeoutMs = 30_000) {
      if (state === 'linked') return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the hub link did not come up in time')), timeoutMs);
        linkedWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    async stop() {
      stopped = true;
      state = 'stopped';
      if (reconnectTimer) clearTimeout(reconnectTimer);
      teardown();
      writebacks.stop();
      linkedWaiters = [];
      const socket = ws;
      ws = undefined;
      if (socket && socket.readyState === WebSocket.OPEN) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            socket.terminate();
            resolve();
          }, 2000);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close(1000, 'agent stopping');
        });
      } else socket?.terminate();
    },
  };
}
