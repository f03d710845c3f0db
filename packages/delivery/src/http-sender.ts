import { Agent, request } from 'undici';
import type { TransportError } from './failure-class.js';

/** One webhook request, fully built and signed. */
export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The exact bytes that were signed. */
  readonly body: string;
  readonly timeoutMs: number;
  /** Aborts the request when the dispatcher stops; the delivery is then released, not failed. */
  readonly signal?: AbortSignal;
}

/**
 * What came back: a status (the body is read only to count its size, never kept), a transport
 * error class, or `aborted` when the dispatcher's own signal ended the request.
 */
export type SendResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly retryAfter?: string;
      readonly responseBytes: number;
    }
  | { readonly kind: 'error'; readonly error: TransportError; readonly code: string }
  | { readonly kind: 'aborted' };

/** Sends one request. Injectable so the dispatcher can be driven without a network in edge cases. */
export type WebhookSender = (request: WebhookRequest) => Promise<SendResult>;

/** At most this much of a response body is read (to count it); the rest is discarded. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME']);
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function codeOf(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return (error as { name?: string })?.name ?? 'UNKNOWN';
}

/**
 * Maps a Node/undici error to the transport classes of docs/delivery.md, "Failure classes" (all retryable).
 */
export function transportErrorOf(error: unknown, timedOut: boolean): { error: TransportError; code: string } {
  const code = codeOf(error);
  if (timedOut || TIMEOUT_CODES.has(code)) return { error: 'timeout', code };
  if (DNS_CODES.has(code)) return { error: 'dns', code };
  if (
    TLS_CODES.has(code) ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.startsWith('CERT_')
  ) {
    return { error: 'tls', code };
  }
  return { error: 'connection', code };
}

export interface HttpSender extends WebhookSender {
  /** Closes the connection pool. */
  close(): Promise<void>;
}

/**
 * The production sender: undici with a keep-alive pool sized for the dispatcher's concurrency.
 * Redirects are never followed (undici's `request` does not follow them; a 3xx is then a permanent
 * failure). The timeout covers the whole request, connect to last body byte.
 */
export function createHttpSender(options: { connections?: number } = {}): HttpSender {
  const agent = new Agent({
    connections: options.connections ?? 16,
    keepAliveTimeout: 30_000,
    connect: { timeout: 10_000 },
  });
  const send = async (webhook: WebhookRequest): Promise<SendResult> => {
    // One controller and one timer per request, ended by the timeout or the dispatcher's stop.
    // (`AbortSignal.timeout` + `AbortSignal.any` did the same at several times the cost per request,
    // docs/performance.md.)
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, webhook.timeoutMs);
    const stop = webhook.signal;
    const onStop = () => controller.abort();
    if (stop?.aborted === true) controller.abort();
    else stop?.addEventListener('abort', onStop, { once: true });
    const signal = controller.signal;
    try {
      const response = await request(webhook.url, {
        method: 'POST',
        headers: { ...webhook.headers },
        body: webhook.body,
        dispatcher: agent,
        signal,
        headersTimeout: webhook.timeoutMs,
        bodyTimeout: webhook.timeoutMs,
      });
      let responseBytes = 0;
      for await (const chunk of response.body) {
        responseBytes += (chunk as Buffer).length;
        if (responseBytes >= MAX_RESPONSE_BYTES) {
          response.body.destroy();
          break;
        }
      }
      const retryAfter = response.headers['retry-after'];
      return {
        kind: 'response',
        status: response.statusCode,
        ...(typeof retryAfter === 'string'
          ? { retryAfter }
          : Array.isArray(retryAfter) && retryAfter[0]
            ? { retryAfter: retryAfter[0] }
            : {}),
        responseBytes,
      };
    } catch (error) {
      if (stop?.aborted === true && !timedOut) return { kind: 'aborted' };
      return { kind: 'error', ...transportErrorOf(error, timedOut) };
    } finally {
      clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
    }
  };
  return Object.assign(send, { close: () => agent.close() });
}
