import { Agent, type Dispatcher } from 'undici';
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
 * Redirects are never followed (a 3xx is then a permanent failure). The timeout covers the whole
 * request, connect to last body byte.
 *
 * It drives undici's dispatch handler directly rather than `request()` with an `AbortSignal`: the
 * handler's controller ends the request on the timeout or the dispatcher's stop, and the response
 * body is counted as it arrives, never buffered. A signal per request (an `AbortController`, undici's
 * listener on it, the body stream) cost about a quarter of a bare POST (docs/performance.md).
 */
export function createHttpSender(options: { connections?: number } = {}): HttpSender {
  const agent = new Agent({
    connections: options.connections ?? 16,
    keepAliveTimeout: 30_000,
    connect: { timeout: 10_000 },
  });
  /** Origin and path of the URLs sent to lately (a subscription's URL is sent to over and over). */
  const targets = new Map<string, { origin: string; path: string }>();
  const targetOf = (url: string) => {
    let target = targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      if (targets.size >= 256) targets.clear();
      targets.set(url, target);
    }
    return target;
  };
  const send = (webhook: WebhookRequest): Promise<SendResult> =>
    new Promise<SendResult>((resolve) => {
      const stop = webhook.signal;
      if (stop?.aborted === true) {
        resolve({ kind: 'aborted' });
        return;
      }
      let controller: Dispatcher.DispatchController | undefined;
      /** Why the request is being ended by this side, if it is: undici may not have started it yet. */
      let ending: 'timeout' | 'stop' | undefined;
      let settled = false;
      let status = 0;
      let retryAfter: string | undefined;
      let responseBytes = 0;
      const end = (why: 'timeout' | 'stop') => {
        ending ??= why;
        controller?.abort(new Error(why === 'timeout' ? 'request timed out' : 'dispatcher stopped'));
      };
      const timer = setTimeout(() => end('timeout'), webhook.timeoutMs);
      const onStop = () => end('stop');
      stop?.addEventListener('abort', onStop, { once: true });
      const settle = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop?.removeEventListener('abort', onStop);
        resolve(result);
      };
      const answered = (): SendResult => ({
        kind: 'response',
        status,
        ...(retryAfter === undefined ? {} : { retryAfter }),
        responseBytes,
      });
      const { origin, path } = targetOf(webhook.url);
      try {
        agent.dispatch(
          {
            origin,
            path,
            method: 'POST',
            headers: webhook.headers,
            body: webhook.body,
            headersTimeout: webhook.timeoutMs,
            bodyTimeout: webhook.timeoutMs,
          },
          {
            onRequestStart(started) {
              controller = started;
              if (ending !== undefined) end(ending);
            },
            onResponseStart(_controller, statusCode, headers) {
              status = statusCode;
              const header = headers['retry-after'];
              retryAfter =
                typeof header === 'string' ? header : Array.isArray(header) ? header[0] : undefined;
            },
            onResponseData(started, chunk) {
              responseBytes += chunk.length;
              // Enough counted: the rest of the body is not read.
              if (responseBytes >= MAX_RESPONSE_BYTES) {
                settle(answered());
                started.abort(new Error('response body limit reached'));
              }
            },
            onResponseEnd() {
              settle(answered());
            },
            onResponseError(_controller, error) {
              settle(
                ending === 'stop'
                  ? { kind: 'aborted' }
                  : { kind: 'error', ...transportErrorOf(error, ending === 'timeout') },
              );
            },
          },
        );
      } catch (error) {
        settle({ kind: 'error', ...transportErrorOf(error, false) });
      }
    });
  return Object.assign(send, { close: () => agent.close() });
}
