import { z } from 'zod';

/**
 * The link protocol (docs/hub.md): JSON text frames `{ type, id, replyTo?, … }` over one WebSocket
 * that the agent dials. Both sides parse every frame with these schemas; anything else is answered
 * with an `error` frame (unknown type) or closes the link (malformed, or before `hello`).
 */
export const LINK_PROTOCOL_VERSION = 1;

/** The path agents dial: `wss://<hub>/v1/agent/link`. */
export const LINK_PATH = '/v1/agent/link';

/** Close codes of the link (4000–4999 are the application's). */
export const LINK_CLOSE = {
  /** The credential is not one the hub issued for this site. */
  badCredential: 4001,
  /** The credential or the whole site was revoked (or the site purged). */
  revoked: 4002,
  /** The agent speaks a protocol version this hub does not. */
  versionRefused: 4003,
  /** A malformed frame, or a frame before `hello`. */
  protocolError: 4004,
  /** No `hello` within the hub's time limit. */
  helloTimeout: 4005,
  /** A newer link of the same site opened (on this node or another). */
  replaced: 4006,
  /** The hub node is stopping; reconnect (to another node). */
  shuttingDown: 4007,
} as const;
export type LinkCloseCode = (typeof LINK_CLOSE)[keyof typeof LINK_CLOSE];

/** Close codes after which retrying with the same credential is pointless until an operator acts. */
export const AUTH_CLOSE_CODES: readonly number[] = [LINK_CLOSE.badCredential, LINK_CLOSE.revoked];

const FrameId = z.string().min(1).max(64);
const Id = z.string().min(1).max(200);

const Capability = z
  .object({
    state: z.enum(['supported', 'unsupported', 'needs-config']),
    writePath: z.enum(['vendor-api', 'sql']).optional(),
    reason: z.string().max(500).optional(),
  })
  .strip();

export const HelloConnection = z
  .object({
    id: Id,
    connector: Id,
    /** Per writeback command: can this connection run it (the hub answers 422 otherwise). */
    capabilities: z.record(z.string().max(64), Capability).default({}),
    /** The connection's default writeback deadline (`writeback.defaultDeadlineSeconds`). */
    defaultDeadlineSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .strip();
export type HelloConnection = z.infer<typeof HelloConnection>;

export const Hello = z
  .object({
    type: z.literal('hello'),
    id: FrameId,
    protocol: z.number().int(),
    siteId: Id,
    credential: z.string().min(1).max(200),
    agentVersion: z.string().min(1).max(64),
    connections: z.array(HelloConnection).max(1000),
  })
  .strict();
export type Hello = z.infer<typeof Hello>;

export const Welcome = z
  .object({
    type: z.literal('welcome'),
    id: FrameId,
    replyTo: FrameId,
    siteId: Id,
    node: Id,
    pingSeconds: z.number().positive(),
    /** How many `events` batches the agent may have unacknowledged at once. */
    credit: z.number().int().min(1),
    maxFrameBytes: z.number().int().min(1024),
    /** Largest number of events in one `events` frame. */
    maxBatchEvents: z.number().int().min(1),
    /** Per connection the hub relays: the highest agent sequence its log holds (absent: none yet). */
    relay: z.record(Id, z.number().int().nullable()),
  })
  .strict();
export type Welcome = z.infer<typeof Welcome>;

/** A JSON object, checked shallowly: an event's data is the agent's, validated where it was made. */
const JsonObject = z.custom<Record<string, unknown>>(
  (value) => value !== null && typeof value === 'object' && !Array.isArray(value),
  'must be a JSON object',
);

export const RelayedEventSchema = z
  .object({
    envelope: z
      .object({
        id: Id,
        type: z.string().min(1).max(200),
        occurredAt: z.string().min(1).max(64),
        connectionId: Id,
        resourceType: z.string().min(1).max(100),
        resourceId: z.string().max(200),
        sequence: z.number().int().nonnegative(),
        data: JsonObject,
      })
      .strict(),
    kind: z.string().min(1).max(32),
    sourceId: z.string().max(500),
    connectorId: z.string().max(100),
    refs: JsonObject,
  })
  .strict();

export const EventsFrame = z
  .object({
    type: z.literal('events'),
    id: FrameId,
    connectionId: Id,
    events: z.array(RelayedEventSchema).min(1).max(5000),
  })
  .strict();
export type EventsFrame = z.infer<typeof EventsFrame>;

export const Ack = z
  .object({
    type: z.literal('ack'),
    id: FrameId,
    replyTo: FrameId,
    connectionId: Id,
    /** The highest agent sequence of the connection the hub's log now holds. */
    sequence: z.number().int().nonnegative(),
    stored: z.number().int().nonnegative(),
    duplicates: z.number().int().nonnegative(),
  })
  .strict();
export type Ack = z.infer<typeof Ack>;

export const Credit = z
  .object({ type: z.literal('credit'), id: FrameId, credit: z.number().int().min(1) })
  .strict();

export const Ping = z.object({ type: z.literal('ping'), id: FrameId }).strict();
export const Pong = z.object({ type: z.literal('pong'), id: FrameId, replyTo: FrameId }).strict();

/** A release version as `pnpm release` stamps it (semver, optional pre-release). */
export const ReleaseVersion = z
  .string()
  .max(64)
  .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a release version like 0.2.0 or 0.2.0-rc.1');

export const UPGRADE_OUTCOMES = ['upgraded', 'upgrade_failed'] as const;
export type UpgradeOutcome = (typeof UPGRADE_OUTCOMES)[number];

/**
 * How the agent's last remote upgrade ended, as its supervisor recorded it (docs/hub.md, "Remote
 * upgrade"). Reported in every status until the next upgrade; the hub turns a new one into
 * `agent.upgraded` / `agent.upgrade_failed` once, keyed by `commandId`.
 */
export const LastUpgradeReport = z
  .object({
    commandId: Id,
    fromVersion: z.string().max(64),
    toVersion: z.string().max(64),
    outcome: z.enum(UPGRADE_OUTCOMES),
    /** Plain words, PHI-free: why it failed (signature, hash, download, not healthy in time…). */
    reason: z.string().max(2000).optional(),
    at: z.string().max(64),
  })
  .strict();
export type LastUpgradeReport = z.infer<typeof LastUpgradeReport>;

/** The agent's status in brief (no PHI: states, times, codes, counts). */
export const AgentStatusReport = z
  .object({
    lastUpgrade: LastUpgradeReport.optional(),
    health: z.enum(['ok', 'degraded', 'down']),
    /** When the agent process started (its uptime; a remote restart resets it). */
    agentStartedAt: z.string().max(64).optional(),
    problems: z.array(z.string().max(500)).max(200).default([]),
    connections: z
      .array(
        z
          .object({
            id: Id,
            streams: z
              .array(
                z
                  .object({
                    stream: z.string().max(100),
                    status: z.string().max(32),
                    stale: z.boolean(),
                    lagSeconds: z.number().nullable(),
                    lastSuccessAt: z.string().max(64).nullable(),
                    lastErrorCode: z.string().max(100).nullable(),
                  })
                  .strip(),
              )
              .max(200),
            pendingWritebacks: z.number().int().nullable(),
            /** Rows set aside by the mapping (quarantine), when the agent counts them. */
            quarantined: z.number().int().nullable().optional(),
            outboxEvents: z.number().int().nullable(),
          })
          .strip(),
      )
      .max(1000),
  })
  .strip();
export type AgentStatusReport = z.infer<typeof AgentStatusReport>;

export const StatusFrame = z
  .object({ type: z.literal('status'), id: FrameId, status: AgentStatusReport })
  .strict();

/** A vendor's command on its way to the agent. */
export const WritebackCommandFrame = z
  .object({
    type: z.literal('writeback'),
    id: FrameId,
    writeback: z
      .object({
        id: Id,
        connectionId: Id,
        command: z.string().min(1).max(64),
        input: z.record(z.string(), z.unknown()),
        deadline: z.string().min(1).max(64),
      })
      .strict(),
  })
  .strict();
export type WritebackCommandFrame = z.infer<typeof WritebackCommandFrame>;

export const WritebackUpdateFrame = z
  .object({
    type: z.literal('writeback.update'),
    id: FrameId,
    writebackId: Id,
    status: z.enum(['accepted', 'written', 'failed', 'timed_out']),
    phase: z.enum(['queued', 'executing', 'verifying', 'done']).optional(),
    /** The agent's result document (docs/writeback.md, "Lifecycle and guarantees"). */
    result: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type WritebackUpdateFrame = z.infer<typeof WritebackUpdateFrame>;

/** A rotated agent credential, sent down the link; the agent stores it and answers `credential.saved`. */
export const CredentialFrame = z
  .object({ type: z.literal('credential'), id: FrameId, credential: z.string().min(1).max(200) })
  .strict();
export const CredentialSaved = z
  .object({ type: z.literal('credential.saved'), id: FrameId, replyTo: FrameId })
  .strict();

/**
 * Remote commands (docs/hub.md, "Remote commands"): what an operator or vendor can ask of an agent
 * over its link. The practice turns each off in its own config (`hub.remote`).
 */
export const REMOTE_COMMANDS = ['restart', 'reload-config', 'logs', 'support-bundle', 'upgrade'] as const;
export type RemoteCommandName = (typeof REMOTE_COMMANDS)[number];

/**
 * The release an `upgrade` command installs, as the hub stores it (`tendril hub release add`). The
 * agent downloads `path` from the hub's HTTP address with Basic auth (site id : link credential),
 * then checks the SHA-256 and the Ed25519 signature against the release key it shipped with.
 */
export const UpgradeRelease = z
  .object({
    version: ReleaseVersion,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256'),
    /** The detached Ed25519 signature of the tarball's bytes, base64 (the `.sig` file of `pnpm release`). */
    signature: z.string().min(1).max(200),
    bytes: z.number().int().positive(),
    /** Where on the hub's HTTP address the tarball is: `/agent/v1/releases/<version>/artifact`. */
    path: z.string().startsWith('/').max(300),
  })
  .strict();
export type UpgradeRelease = z.infer<typeof UpgradeRelease>;

/** Most log lines one `logs` command returns. */
export const MAX_LOG_LINES = 2000;

export const RemoteCommandArgs = z
  .object({
    /** `logs`: how many of the newest lines. */
    lines: z.number().int().min(1).max(MAX_LOG_LINES).optional(),
    /** `upgrade`: the release to install; the hub fills it from its release store. */
    release: UpgradeRelease.optional(),
  })
  .strict();
export type RemoteCommandArgs = z.infer<typeof RemoteCommandArgs>;

export const CommandFrame = z
  .object({
    type: z.literal('command'),
    id: FrameId,
    command: z
      .object({ id: Id, name: z.enum(REMOTE_COMMANDS), args: RemoteCommandArgs.default({}) })
      .strict(),
  })
  .strict();
export type CommandFrame = z.infer<typeof CommandFrame>;

/** How an agent answered a command: done, refused by the practice's config, or failed. */
export const COMMAND_OUTCOMES = ['ok', 'refused', 'failed'] as const;
export type CommandOutcome = (typeof COMMAND_OUTCOMES)[number];

export const CommandResultFrame = z
  .object({
    type: z.literal('command.result'),
    id: FrameId,
    commandId: Id,
    status: z.enum(COMMAND_OUTCOMES),
    /** In plain words, PHI-free: what happened, or why not (every config problem for reload-config). */
    message: z.string().max(20_000),
    /** `logs`: `{ lines }`; `support-bundle`: `{ bundle }` (schema metadata only). */
    output: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type CommandResultFrame = z.infer<typeof CommandResultFrame>;

export const ErrorFrame = z
  .object({
    type: z.literal('error'),
    id: FrameId,
    replyTo: FrameId.optional(),
    code: z.string().min(1).max(64),
    message: z.string().max(1000),
  })
  .strict();
export type ErrorFrame = z.infer<typeof ErrorFrame>;

/** Frames the hub accepts after `hello`. */
export const AGENT_FRAMES = {
  events: EventsFrame,
  ping: Ping,
  pong: Pong,
  status: StatusFrame,
  'writeback.update': WritebackUpdateFrame,
  'credential.saved': CredentialSaved,
  'command.result': CommandResultFrame,
  error: ErrorFrame,
} as const;

/** Frames the agent accepts after `welcome`. */
export const HUB_FRAMES = {
  ack: Ack,
  credit: Credit,
  ping: Ping,
  pong: Pong,
  writeback: WritebackCommandFrame,
  credential: CredentialFrame,
  command: CommandFrame,
  error: ErrorFrame,
} as const;

/**
 * The text of a received frame. ws hands over a Buffer, a list of fragments, or an ArrayBuffer
 * (whose toString is not its text); both ends of the link read frames through this.
 */
export function frameText(data: Buffer | ArrayBuffer | Buffer[]): string {
  return (
    Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data
  ).toString('utf8');
}

/**
 * Parses one text frame against a set of frame schemas. `unknown-type` is a well-formed frame of a
 * type this side does not know (answered, not fatal); `malformed` is anything else.
 */
export function parseFrame<S extends Record<string, z.ZodType>>(
  schemas: S,
  text: string,
):
  | { ok: true; frame: z.infer<S[keyof S]>; type: keyof S & string }
  | { ok: false; problem: 'malformed' | 'unknown-type'; message: string; id?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'malformed', message: 'the frame is not JSON' };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, problem: 'malformed', message: 'the frame is not a JSON object' };
  const { type, id } = raw as { type?: unknown; id?: unknown };
  const frameId = typeof id === 'string' && id.length <= 64 ? id : undefined;
  if (typeof type !== 'string')
    return {
      ok: false,
      problem: 'malformed',
      message: 'the frame has no type',
      ...(frameId ? { id: frameId } : {}),
    };
  const schema = Object.hasOwn(schemas, type) ? schemas[type as keyof S] : undefined;
  if (!schema)
    return {
      ok: false,
      problem: 'unknown-type',
      message: `unknown frame type ${type.slice(0, 40)}`,
      ...(frameId ? { id: frameId } : {}),
    };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      problem: 'malformed',
      message: `${type} frame: ${issue ? `${issue.path.join('.') || '(frame)'} ${issue.message}` : 'invalid'}`,
      ...(frameId ? { id: frameId } : {}),
    };
  }
  return { ok: true, frame: parsed.data as z.infer<S[keyof S]>, type: type };
}
