import { TendrilError } from '@tendril/core';

/** What an attempt's outcome means for the delivery (docs/delivery.md, "Failure classes"). */
export const RESPONSE_CLASSES = {
  delivered: 'delivered',
  retryable: 'retryable',
  permanent: 'permanent',
} as const;
export type ResponseClass = (typeof RESPONSE_CLASSES)[keyof typeof RESPONSE_CLASSES];

/** Transport failures, where no HTTP status was received. All are retryable. */
export const TRANSPORT_ERRORS = ['timeout', 'connection', 'dns', 'tls'] as const;
export type TransportError = (typeof TRANSPORT_ERRORS)[number];

/** One attempt's outcome: an HTTP status, or a transport error when no response came back. */
export interface AttemptOutcome {
  status?: number;
  error?: TransportError;
}

function transportClass(error: TransportError): ResponseClass {
  switch (error) {
    case 'timeout':
    case 'connection':
    case 'dns':
    case 'tls':
      return RESPONSE_CLASSES.retryable;
    default:
      return error satisfies never;
  }
}

/**
 * Classify an attempt: 2xx delivered; 408, 429, 5xx and every transport error retryable; 3xx (redirects
 * are not followed) and other 4xx permanent, dead-lettered at once. A status outside the final range
 * 200–599 is treated like a transport error (retryable): it says nothing about the receiver's intent.
 */
export function classifyResponse(outcome: AttemptOutcome): ResponseClass {
  if (outcome.error !== undefined) return transportClass(outcome.error);
  const status = outcome.status;
  if (status === undefined || !Number.isInteger(status)) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      'An attempt outcome needs an integer HTTP status or a transport error (timeout, connection, dns, tls).',
    );
  }
  if (status >= 200 && status <= 299) return RESPONSE_CLASSES.delivered;
  if (status === 408 || status === 429 || (status >= 500 && status <= 599)) return RESPONSE_CLASSES.retryable;
  if (status >= 300 && status <= 499) return RESPONSE_CLASSES.permanent;
  return RESPONSE_CLASSES.retryable;
}

/**
 * True when this outcome disables the subscription: a 410 Gone means the endpoint is gone for good,
 * so further events would only pile up as dead letters. `disableOn410` is the subscription setting
 * (default true); with it off, a 410 is just a permanent failure.
 */
export function disablesSubscription(outcome: AttemptOutcome, disableOn410 = true): boolean {
  return disableOn410 && outcome.error === undefined && outcome.status === 410;
}

/** True for the statuses whose `Retry-After` header Tendril honours (429 and 503). */
export function honorsRetryAfter(status: number | undefined): boolean {
  return status === 429 || status === 503;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: IMF-fixdate, and the two obsolete forms recipients must still accept.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, h: string, m: string, s: string): number | undefined {
  const monthIndex = MONTHS.indexOf(month as (typeof MONTHS)[number]);
  const hour = Number(h);
  const minute = Number(m);
  const second = Number(s);
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, monthIndex, day, hour, minute, Math.min(second, 59));
  // Reject dates that Date.UTC silently rolled over (31 Feb).
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

function parseHttpDate(text: string, nowMs: number): number | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match) return utc(Number(match[3]), match[2]!, Number(match[1]), match[4]!, match[5]!, match[6]!);
  match = RFC850_DATE.exec(text);
  if (match) {
    // Two-digit year: the most recent year with those digits that is not more than 50 years ahead.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(match[3]);
    if (year > nowYear + 50) year -= 100;
    return utc(year, match[2]!, Number(match[1]), match[4]!, match[5]!, match[6]!);
  }
  match = ASCTIME_DATE.exec(text);
  if (match)
    return utc(Number(match[6]), match[1]!, Number(match[2]!.trim()), match[3]!, match[4]!, match[5]!);
  return undefined;
}

/**
 * Parse a `Retry-After` header into whole seconds from `now`: either delay-seconds (`120`) or an
 * HTTP-date, rounded up so Tendril never comes back early; a date in the past gives 0. Returns
 * undefined for a missing or malformed header, which then has no effect. `now` is injected (Date or
 * epoch ms) so results are deterministic.
 */
export function parseRetryAfter(
  headerValue: string | readonly string[] | null | undefined,
  now: Date | number,
): number | undefined {
  const raw = typeof headerValue === 'string' ? headerValue : headerValue?.[0];
  if (raw === undefined || raw === null) return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds : undefined;
  }
  const nowMs = typeof now === 'number' ? now : now.getTime();
  const at = parseHttpDate(text, nowMs);
  if (at === undefined) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
