/**
 * The IPC messages between the supervisor and the agent child (`process.send`). Kept as data so
 * both sides agree on one shape and anything else on the channel is ignored.
 */
export const SUPERVISOR_MESSAGE = {
  /** Child → supervisor: the event loop is alive. */
  heartbeat: 'tendril:heartbeat',
  /** Child → supervisor: an authenticated caller asked for a restart (`POST /v1/agent/restart`). */
  restartRequest: 'tendril:restart-request',
} as const;
export type SupervisorMessageType = (typeof SUPERVISOR_MESSAGE)[keyof typeof SUPERVISOR_MESSAGE];

export interface SupervisorMessage {
  readonly type: SupervisorMessageType;
  /** Who asked (restart requests): `api`, `cli`…; never a credential. */
  readonly reason?: string;
}

/** True for a message the supervisor understands. */
export function isSupervisorMessage(value: unknown): value is SupervisorMessage {
  if (!value || typeof value !== 'object') return false;
  const type = (value as { type?: unknown }).type;
  return type === SUPERVISOR_MESSAGE.heartbeat || type === SUPERVISOR_MESSAGE.restartRequest;
}

/** Environment variable the supervisor sets on its child, so the child knows it is supervised. */
export const SUPERVISED_ENV = 'TENDRIL_SUPERVISED';
