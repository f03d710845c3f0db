import { TendrilError, type VendorApi } from '@tendril/core';

/** How to reach one vendor API: base URL (path prefix kept), fixed headers (auth), timeout. */
export interface HttpVendorApiOptions {
  /** e.g. `https://api.opendental.com/api/v1`; request paths are appended to it. */
  readonly baseUrl: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Per request. Default 30 s: a vendor API that hangs must not hold a writeback forever. */
  readonly timeoutMs?: number;
}

/**
 * The `vendor-api` path's client (docs/writeback.md, "What is implemented"): JSON over HTTP(S) with the
 * connector's headers. Any HTTP status is returned to the handler (a 400 with the vendor's explanation is a
 * `vendor_error`, not an exception); only a transport failure throws, with a code and never the
 * request body.
 */
export function createHttpVendorApi(options: HttpVendorApiOptions): VendorApi {
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    async request(method, path, body) {
      let response: Response;
      try {
        response = await fetch(`${base}${path.startsWith('/') ? path : `/${path}`}`, {
          method,
          headers: {
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...options.headers,
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const timedOut =
          error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
        throw new TendrilError(
          'TENDRIL_E_WRITEBACK_VENDOR_UNREACHABLE',
          timedOut
            ? `the vendor API did not answer within ${timeoutMs} ms; check that it is running and reachable (connections[].writeback.api.url)`
            : 'the vendor API could not be reached; check connections[].writeback.api.url and the network',
          { details: { method, path: path.split('?')[0] } },
        );
      }
      const text = await response.text();
      let parsed: unknown = text;
      if (text !== '' && (response.headers.get('content-type') ?? '').includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: response.status, body: parsed };
    },
  };
}
