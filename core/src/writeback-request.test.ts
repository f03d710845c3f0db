import { describe, expect, it } from 'vitest';
import { HubLinkConfig } from './hub-config.js';
import { parseWritebackEnvelope, writebackDeadline, writebackPayloadHash } from './writeback-request.js';

describe('writeback request envelope', () => {
  it('lists every problem at once, by field', () => {
    const parsed = parseWritebackEnvelope({
      command: 'Appointment.fly',
      deadline: 'tomorrow',
      expectedHash: 'x',
      extra: 1,
    });
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.errors.map((e) => e.path).sort();
    expect(paths).toEqual(['command', 'connectionId', 'deadline', 'expectedHash', 'extra']);
  });

  it('takes the Idempotency-Key header when the body has none, and requires one of them', () => {
    const body = { command: 'Appointment.cancel', connectionId: 'c', input: {} };
    expect(parseWritebackEnvelope(body, 'key-1')).toMatchObject({
      ok: true,
      envelope: { idempotencyKey: 'key-1' },
    });
    const missing = parseWritebackEnvelope(body);
    expect(missing.ok ? [] : missing.errors.map((e) => e.path)).toEqual(['idempotencyKey']);
    expect(parseWritebackEnvelope('text').ok).toBe(false);
  });

  it('caps book and reschedule at the new start and refuses a passed deadline', () => {
    const envelope = {
      command: 'Appointment.book' as const,
      connectionId: 'c',
      idempotencyKey: 'k',
      input: {},
    };
    const start = '2030-01-01T10:00:00Z';
    expect(writebackDeadline(envelope, { start }, Date.parse('2030-01-01T09:55:00Z'), 600)).toEqual({
      ok: true,
      deadlineMs: Date.parse(start),
    });
    expect(writebackDeadline(envelope, { start }, Date.parse('2030-01-01T10:00:00Z'), 600)).toMatchObject({
      ok: false,
      error: { path: 'input.start' },
    });
    expect(writebackPayloadHash(envelope)).toBe(
      writebackPayloadHash({ ...envelope, idempotencyKey: 'other' }),
    );
    expect(writebackPayloadHash(envelope)).not.toBe(writebackPayloadHash({ ...envelope, input: { a: 1 } }));
  });
});

describe('hub: in tendril.yaml', () => {
  const base = { siteId: 'st_1', credential: 'tha_x' };
  it('wants https, or plain http on this machine only', () => {
    expect(HubLinkConfig.safeParse({ ...base, url: 'https://hub.example.com' }).success).toBe(true);
    expect(HubLinkConfig.safeParse({ ...base, url: 'http://127.0.0.1:8443' }).success).toBe(true);
    const plain = HubLinkConfig.safeParse({ ...base, url: 'http://hub.example.com' });
    expect(plain.success).toBe(false);
    expect(plain.error?.issues[0]?.message).toContain('https://');
  });
});
