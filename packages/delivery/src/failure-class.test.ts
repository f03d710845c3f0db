import { describe, expect, it } from 'vitest';
import { isTendrilError } from '@tendril/core';
import {
  classifyResponse,
  disablesSubscription,
  honorsRetryAfter,
  parseRetryAfter,
  TRANSPORT_ERRORS,
} from './failure-class.js';

describe('classifyResponse — docs/delivery.md, "Failure classes"', () => {
  it('2xx is delivered', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(classifyResponse({ status })).toBe('delivered');
  });

  it('408, 429 and 5xx are retryable', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 599])
      expect(classifyResponse({ status })).toBe('retryable');
  });

  it('every transport error is retryable, whatever status came with it', () => {
    for (const error of TRANSPORT_ERRORS) {
      expect(classifyResponse({ error })).toBe('retryable');
      expect(classifyResponse({ error, status: 200 })).toBe('retryable');
    }
  });

  it('3xx (redirects are not followed) and other 4xx are permanent', () => {
    for (const status of [
      300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 451, 499,
    ]) {
      expect(classifyResponse({ status })).toBe('permanent');
    }
  });

  it('treats a status outside 200–599 like a transport failure', () => {
    for (const status of [100, 199, 600, 999]) expect(classifyResponse({ status })).toBe('retryable');
  });

  it('rejects an outcome with neither status nor error', () => {
    for (const outcome of [{}, { status: 200.5 }]) {
      try {
        classifyResponse(outcome);
        expect.unreachable();
      } catch (error) {
        expect(isTendrilError(error, 'TENDRIL_E_DELIVERY_POLICY')).toBe(true);
      }
    }
  });
});

describe('disablesSubscription', () => {
  it('is true for 410 only, and only with disableOn410 (default true)', () => {
    expect(disablesSubscription({ status: 410 })).toBe(true);
    expect(disablesSubscription({ status: 410 }, true)).toBe(true);
    expect(disablesSubscription({ status: 410 }, false)).toBe(false);
    for (const status of [200, 400, 404, 429, 500]) expect(disablesSubscription({ status })).toBe(false);
    expect(disablesSubscription({ error: 'dns' })).toBe(false);
    expect(disablesSubscription({ status: 410, error: 'timeout' })).toBe(false);
  });
});

describe('honorsRetryAfter', () => {
  it('is true for 429 and 503 only', () => {
    expect(honorsRetryAfter(429)).toBe(true);
    expect(honorsRetryAfter(503)).toBe(true);
    for (const status of [undefined, 200, 500, 502, 504, 408]) expect(honorsRetryAfter(status)).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2015, 9, 21, 7, 28, 0); // Wed, 21 Oct 2015 07:28:00 GMT

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter(['30', '60'], now)).toBe(30);
  });

  it('reads an IMF-fixdate relative to now, rounding up', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', now)).toBe(120);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', new Date(now))).toBe(120);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', now + 500)).toBe(120);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', now + 1000)).toBe(119);
  });

  it('gives 0 for a date in the past', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
  });

  it('reads the obsolete RFC 850 and asctime forms', () => {
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:29:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Wed Oct 21 07:29:30 2015', now)).toBe(90);
    expect(parseRetryAfter('Sun Nov  1 07:28:00 2015', now)).toBe(11 * 86_400);
  });

  it('resolves a two-digit year to the most recent matching year not over 50 years ahead', () => {
    const in2040 = Date.UTC(2040, 0, 1);
    // "99" from 2040 is 2099 (59 years ahead: too far) → 1999, in the past → 0.
    expect(parseRetryAfter('Friday, 01-Jan-99 00:00:00 GMT', in2040)).toBe(0);
    // "41" from 2040 is 2041.
    expect(parseRetryAfter('Tuesday, 01-Jan-41 00:00:00 GMT', in2040)).toBe(366 * 86_400);
  });

  it('returns undefined for missing or malformed values', () => {
    for (const value of [
      undefined,
      null,
      '',
      '-5',
      '1.5',
      '12 s',
      'soon',
      '2015-10-21T07:30:00Z',
      'Wed, 21 Oct 2015 07:30:00 PST',
      'Wed, 31 Feb 2015 07:30:00 GMT',
      'Wed, 21 Oct 2015 25:30:00 GMT',
      '99999999999999999999',
    ]) {
      expect(parseRetryAfter(value, now), String(value)).toBeUndefined();
    }
    expect(parseRetryAfter([], now)).toBeUndefined();
  });
});
