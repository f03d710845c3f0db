import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isTendrilError } from '@tendril/core';
import {
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  type WebhookSignatureHeaders,
} from './signing.js';

// docs/delivery.md, "Signing" test vector (the Standard Webhooks reference vector).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestampSeconds: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

/** Verify with the official library, at the signature's own time so its 5-minute window passes. */
function libraryAccepts(secret: string, body: string, headers: WebhookSignatureHeaders): boolean {
  vi.setSystemTime(Number(headers['webhook-timestamp']) * 1000);
  try {
    new Webhook(secret).verify(body, { ...headers }, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}

/** Deterministic bytes for generated secrets. */
function seededBytes(seed: string): (size: number) => Uint8Array {
  return (size) => createHash('sha256').update(seed).digest().subarray(0, size);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('signWebhook', () => {
  it('reproduces the docs/delivery.md, "Signing" test vector exactly', () => {
    const headers = signWebhook({
      secrets: [{ secret: VECTOR.secret }],
      id: VECTOR.id,
      timestampSeconds: VECTOR.timestampSeconds,
      body: VECTOR.body,
    });
    expect(headers).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': VECTOR.signature,
    });
    expect(libraryAccepts(VECTOR.secret, VECTOR.body, headers)).toBe(true);
  });

  it('signs the exact bytes: a Uint8Array body gives the same signature as its UTF-8 string', () => {
    const bytes = new TextEncoder().encode(VECTOR.body);
    const headers = signWebhook({
      secrets: [{ secret: VECTOR.secret }],
      id: VECTOR.id,
      timestampSeconds: VECTOR.timestampSeconds,
      body: bytes,
    });
    expect(headers['webhook-signature']).toBe(VECTOR.signature);
  });

  it('is accepted by the standardwebhooks library for generated secrets, unicode bodies and new timestamps', () => {
    const cases = [
      { seed: 'a', body: '{"resourceType":"Patient","name":"Zoë Ñandú 日本"}', ts: 1_700_000_000 },
      { seed: 'b', body: '', ts: 1_700_000_001 },
      { seed: 'c', body: '{"n":1}\n', ts: 2_000_000_000 },
    ];
    for (const { seed, body, ts } of cases) {
      const secret = generateWebhookSecret(seededBytes(seed));
      const headers = signWebhook({ secrets: [{ secret }], id: `evt_${seed}`, timestampSeconds: ts, body });
      expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
      expect(libraryAccepts(secret, body, headers)).toBe(true);
      // Any change to body, id or timestamp breaks it, so the library check above is meaningful.
      expect(libraryAccepts(secret, `${body} `, headers)).toBe(false);
      expect(libraryAccepts(secret, body, { ...headers, 'webhook-id': `${headers['webhook-id']}x` })).toBe(
        false,
      );
      expect(libraryAccepts(secret, body, { ...headers, 'webhook-timestamp': String(ts + 1) })).toBe(false);
      expect(libraryAccepts(generateWebhookSecret(seededBytes(`${seed}-other`)), body, headers)).toBe(false);
    }
  });

  it('signs each attempt again: a new timestamp gives a new signature, same id', () => {
    const base = { secrets: [{ secret: VECTOR.secret }], id: VECTOR.id, body: VECTOR.body };
    const first = signWebhook({ ...base, timestampSeconds: 1_700_000_000 });
    const retry = signWebhook({ ...base, timestampSeconds: 1_700_000_060 });
    expect(retry['webhook-id']).toBe(first['webhook-id']);
    expect(retry['webhook-signature']).not.toBe(first['webhook-signature']);
    expect(libraryAccepts(VECTOR.secret, VECTOR.body, first)).toBe(true);
    expect(libraryAccepts(VECTOR.secret, VECTOR.body, retry)).toBe(true);
  });

  describe('rotation', () => {
    const oldSecret = generateWebhookSecret(seededBytes('old'));
    const newSecret = generateWebhookSecret(seededBytes('new'));
    const ts = 1_750_000_000;
    const notAfter = new Date((ts + 3600) * 1000).toISOString();
    const body = '{"id":"e1","type":"patient.updated"}';

    it('sends one v1 entry per live secret, and each secret alone verifies with the library', () => {
      const headers = signWebhook({
        secrets: [{ secret: oldSecret, notAfter }, { secret: newSecret }],
        id: 'evt_1',
        timestampSeconds: ts,
        body,
      });
      const entries = headers['webhook-signature'].split(' ');
      expect(entries).toHaveLength(2);
      expect(entries.every((entry) => entry.startsWith('v1,'))).toBe(true);
      expect(entries[0]).not.toBe(entries[1]);
      expect(libraryAccepts(oldSecret, body, headers)).toBe(true);
      expect(libraryAccepts(newSecret, body, headers)).toBe(true);
      // Each entry is exactly that secret's signature.
      expect(entries[0]).toBe(
        signWebhook({ secrets: [{ secret: oldSecret }], id: 'evt_1', timestampSeconds: ts, body })[
          'webhook-signature'
        ],
      );
      expect(entries[1]).toBe(
        signWebhook({ secrets: [{ secret: newSecret }], id: 'evt_1', timestampSeconds: ts, body })[
          'webhook-signature'
        ],
      );
    });

    it('drops a secret once notAfter has passed (still used at exactly notAfter)', () => {
      const secrets = [{ secret: oldSecret, notAfter }, { secret: newSecret }];
      const atNotAfter = signWebhook({ secrets, id: 'evt_1', timestampSeconds: ts + 3600, body });
      expect(atNotAfter['webhook-signature'].split(' ')).toHaveLength(2);
      const after = signWebhook({ secrets, id: 'evt_1', timestampSeconds: ts + 3601, body });
      expect(after['webhook-signature'].split(' ')).toHaveLength(1);
      expect(libraryAccepts(newSecret, body, after)).toBe(true);
      expect(libraryAccepts(oldSecret, body, after)).toBe(false);
    });

    it('judges expiry by the injected now when given, not the timestamp', () => {
      const secrets = [{ secret: oldSecret, notAfter }, { secret: newSecret }];
      const headers = signWebhook({
        secrets,
        id: 'evt_1',
        timestampSeconds: ts,
        body,
        now: new Date((ts + 7200) * 1000),
      });
      expect(headers['webhook-signature'].split(' ')).toHaveLength(1);
      expect(libraryAccepts(newSecret, body, headers)).toBe(true);
    });

    it('refuses to send unsigned when every secret has expired', () => {
      expect(() =>
        signWebhook({
          secrets: [{ secret: oldSecret, notAfter }],
          id: 'evt_1',
          timestampSeconds: ts + 3601,
          body,
        }),
      ).toThrow(expect.objectContaining({ code: 'TENDRIL_E_WEBHOOK_SECRET' }));
      expect(() => signWebhook({ secrets: [], id: 'evt_1', timestampSeconds: ts, body })).toThrow(
        expect.objectContaining({ code: 'TENDRIL_E_WEBHOOK_SECRET' }),
      );
    });
  });

  it('rejects malformed secrets without echoing them', () => {
    const bad = [
      'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'whsec_',
      'whsec_c2hvcnQ=',
      'whsec_not base64!!',
      `whsec_${Buffer.alloc(65).toString('base64')}`,
    ];
    for (const secret of bad) {
      try {
        signWebhook({ secrets: [{ secret }], id: 'evt_1', timestampSeconds: 1, body: '' });
        expect.unreachable();
      } catch (error) {
        expect(isTendrilError(error, 'TENDRIL_E_WEBHOOK_SECRET')).toBe(true);
        expect((error as Error).message).not.toContain(secret.slice(6) || '\u0000');
      }
    }
    expect(() =>
      signWebhook({
        secrets: [{ secret: VECTOR.secret, notAfter: 'tomorrow' }],
        id: 'evt_1',
        timestampSeconds: 1,
        body: '',
      }),
    ).toThrow(expect.objectContaining({ code: 'TENDRIL_E_WEBHOOK_SECRET' }));
  });

  it('rejects a bad id or timestamp', () => {
    const secrets = [{ secret: VECTOR.secret }];
    for (const timestampSeconds of [-1, 1.5, Number.NaN]) {
      expect(() => signWebhook({ secrets, id: 'evt_1', timestampSeconds, body: '' })).toThrow(
        expect.objectContaining({ code: 'TENDRIL_E_DELIVERY_POLICY' }),
      );
    }
    for (const id of ['', 'a b', 'a\nb']) {
      expect(() => signWebhook({ secrets, id, timestampSeconds: 1, body: '' })).toThrow(
        expect.objectContaining({ code: 'TENDRIL_E_DELIVERY_POLICY' }),
      );
    }
  });
});

describe('generateWebhookSecret', () => {
  it('is whsec_ + base64 of 32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it('uses the injected random source', () => {
    const bytes = new Uint8Array(32).map((_, i) => i);
    expect(generateWebhookSecret(() => bytes)).toBe(`whsec_${Buffer.from(bytes).toString('base64')}`);
    expect(() => generateWebhookSecret(() => new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: 'TENDRIL_E_WEBHOOK_SECRET' }),
    );
  });
});

describe('verifyWebhook', () => {
  const secret = generateWebhookSecret(seededBytes('inbound'));
  const body = '{"op":"appointment.book"}';
  const ts = 1_750_000_000;
  const now = ts * 1000;

  /** Headers produced by the official library, so verification is checked against an independent signer. */
  function librarySigned(
    key: string,
    id: string,
    timestampSeconds: number,
    payload: string,
  ): WebhookSignatureHeaders {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(timestampSeconds),
      'webhook-signature': new Webhook(key).sign(id, new Date(timestampSeconds * 1000), payload),
    };
  }

  it('accepts a request signed by the standardwebhooks library, and the Signing vector', () => {
    expect(
      verifyWebhook({ secrets: [{ secret }], headers: librarySigned(secret, 'req_1', ts, body), body, now }),
    ).toEqual({ ok: true });
    const vectorHeaders = {
      'Webhook-Id': VECTOR.id,
      'Webhook-Timestamp': '1614265330',
      'Webhook-Signature': VECTOR.signature,
    };
    expect(
      verifyWebhook({
        secrets: [{ secret: VECTOR.secret }],
        headers: vectorHeaders,
        body: VECTOR.body,
        now: 1614265330_000,
      }),
    ).toEqual({ ok: true });
  });

  it('accepts raw bytes and a Headers object', () => {
    const headers = new Headers({ ...librarySigned(secret, 'req_1', ts, body) });
    expect(
      verifyWebhook({ secrets: [{ secret }], headers, body: new TextEncoder().encode(body), now }),
    ).toEqual({ ok: true });
  });

  it('accepts any listed signature, with any live secret', () => {
    const other = generateWebhookSecret(seededBytes('other'));
    const signed = librarySigned(secret, 'req_1', ts, body);
    const headers = {
      ...signed,
      'webhook-signature': `v2,abc v1,${Buffer.alloc(32).toString('base64')} ${signed['webhook-signature']}`,
    };
    expect(verifyWebhook({ secrets: [{ secret: other }, { secret }], headers, body, now })).toEqual({
      ok: true,
    });
  });

  it('ignores an expired secret', () => {
    const headers = librarySigned(secret, 'req_1', ts, body);
    const expired = [{ secret, notAfter: new Date(now - 1).toISOString() }];
    expect(verifyWebhook({ secrets: expired, headers, body, now })).toEqual({
      ok: false,
      reason: 'no-matching-signature',
    });
  });

  it('rejects a changed body, id or signature', () => {
    const headers = librarySigned(secret, 'req_1', ts, body);
    expect(verifyWebhook({ secrets: [{ secret }], headers, body: `${body} `, now })).toEqual({
      ok: false,
      reason: 'no-matching-signature',
    });
    expect(
      verifyWebhook({ secrets: [{ secret }], headers: { ...headers, 'webhook-id': 'req_2' }, body, now }),
    ).toEqual({
      ok: false,
      reason: 'no-matching-signature',
    });
    expect(
      verifyWebhook({
        secrets: [{ secret }],
        headers: { ...headers, 'webhook-signature': 'v1,short' },
        body,
        now,
      }),
    ).toEqual({
      ok: false,
      reason: 'no-matching-signature',
    });
    expect(
      verifyWebhook({
        secrets: [{ secret }],
        headers: { ...headers, 'webhook-signature': headers['webhook-signature'].replace('v1,', 'v2,') },
        body,
        now,
      }),
    ).toEqual({ ok: false, reason: 'no-matching-signature' });
  });

  it('enforces the 5-minute timestamp window', () => {
    const headers = librarySigned(secret, 'req_1', ts, body);
    expect(verifyWebhook({ secrets: [{ secret }], headers, body, now: now + 300_000 }).ok).toBe(true);
    expect(verifyWebhook({ secrets: [{ secret }], headers, body, now: now + 301_000 })).toEqual({
      ok: false,
      reason: 'timestamp-too-old',
    });
    expect(verifyWebhook({ secrets: [{ secret }], headers, body, now: now - 300_000 }).ok).toBe(true);
    expect(verifyWebhook({ secrets: [{ secret }], headers, body, now: now - 301_000 })).toEqual({
      ok: false,
      reason: 'timestamp-too-new',
    });
    expect(
      verifyWebhook({ secrets: [{ secret }], headers, body, now: now + 1_000_000, toleranceSeconds: 1000 })
        .ok,
    ).toBe(true);
  });

  it('rejects missing headers and a malformed timestamp', () => {
    const headers = librarySigned(secret, 'req_1', ts, body);
    for (const drop of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const partial: Record<string, string> = { ...headers };
      delete partial[drop];
      expect(verifyWebhook({ secrets: [{ secret }], headers: partial, body, now })).toEqual({
        ok: false,
        reason: 'missing-headers',
      });
    }
    expect(
      verifyWebhook({
        secrets: [{ secret }],
        headers: { ...headers, 'webhook-timestamp': '1e9' },
        body,
        now,
      }),
    ).toEqual({
      ok: false,
      reason: 'bad-timestamp',
    });
  });
});
