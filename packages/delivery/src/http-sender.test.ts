import { afterEach, describe, expect, it } from 'vitest';
import { createHttpSender, type HttpSender } from './http-sender.js';
import { startLoopbackReceiver, type LoopbackReceiver } from './loopback-receiver.js';

// The production sender over a real socket: its own timer ends a request that gets no answer, the
// dispatcher's stop signal ends one as `aborted`, and neither leaves a listener on the stop signal.
describe('http sender', () => {
  let receiver: LoopbackReceiver | undefined;
  let sender: HttpSender | undefined;
  afterEach(async () => {
    await sender?.close().catch(() => undefined);
    await receiver?.close();
    receiver = undefined;
    sender = undefined;
  });

  const request = (url: string, timeoutMs: number, signal?: AbortSignal) => ({
    url,
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
    timeoutMs,
    ...(signal ? { signal } : {}),
  });

  /** Abort listeners on a signal, as Node counts them (an EventTarget has no public count). */
  const listeners = (signal: AbortSignal): number => {
    const symbol = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kEvents');
    const events = (signal as unknown as Record<symbol, Map<string, { size: number }>>)[symbol!];
    return events.get('abort')?.size ?? 0;
  };

  it('answers with the status and the response size', async () => {
    receiver = await startLoopbackReceiver(() => ({ status: 200, body: 'ok!' }));
    sender = createHttpSender();
    const stop = new AbortController();
    expect(await sender(request(receiver.url, 5000, stop.signal))).toEqual({
      kind: 'response',
      status: 200,
      responseBytes: 3,
    });
    expect(listeners(stop.signal)).toBe(0);
  });

  it('passes Retry-After on, and counts a large body only up to its limit without keeping it', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    receiver = await startLoopbackReceiver(() => ({
      status: 503,
      headers: { 'retry-after': '120' },
      body: big,
    }));
    sender = createHttpSender();
    const stop = new AbortController();
    const result = await sender(request(receiver.url, 5000, stop.signal));
    expect(result).toMatchObject({ kind: 'response', status: 503, retryAfter: '120' });
    const bytes = (result as { responseBytes: number }).responseBytes;
    expect(bytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(bytes).toBeLessThan(big.length);
    expect(listeners(stop.signal)).toBe(0);
    // The connection the cut-off body was on is gone; the next request gets a fresh one.
    expect(await sender(request(receiver.url, 5000, stop.signal))).toMatchObject({ status: 503 });
  });

  it('classifies a refused connection as a connection error', async () => {
    receiver = await startLoopbackReceiver(() => ({ status: 204 }));
    const url = receiver.url;
    await receiver.close();
    receiver = undefined;
    sender = createHttpSender();
    expect(await sender(request(url, 5000))).toMatchObject({ kind: 'error', error: 'connection' });
  });

  it('ends a request with no answer as a timeout, after the timeout', async () => {
    receiver = await startLoopbackReceiver(() => ({ status: 200, hold: true }));
    sender = createHttpSender();
    const stop = new AbortController();
    const started = Date.now();
    const result = await sender(request(receiver.url, 300, stop.signal));
    expect(result).toMatchObject({ kind: 'error', error: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(listeners(stop.signal)).toBe(0);
  });

  it('ends a request as aborted when the stop signal fires, and at once when it already has', async () => {
    receiver = await startLoopbackReceiver(() => ({ status: 200, hold: true }));
    sender = createHttpSender();
    const stop = new AbortController();
    const pending = sender(request(receiver.url, 60_000, stop.signal));
    while (receiver.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    stop.abort();
    expect(await pending).toEqual({ kind: 'aborted' });
    expect(await sender(request(receiver.url, 60_000, stop.signal))).toEqual({ kind: 'aborted' });
  });
});
