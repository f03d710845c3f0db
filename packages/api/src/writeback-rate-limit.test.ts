import { openSqliteStore, type Store } from '@tendril/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateApiKey } from './api-keys.js';
import { createApiServer, type ApiServer } from './server.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The writeback API's rate limit (@fastify/rate-limit): per key once authenticated, per address before. */
describe('writeback API rate limit', () => {
  let store: Store;
  let server: ApiServer;
  let key: string;

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    await store.migrate();
    const created = generateApiKey();
    await store.writebacks.createApiKey({
      id: created.id,
      name: 'vendor',
      secretHash: created.secretHash,
      connectionIds: ['c1'],
      subscriptionIds: [],
      createdAt: new Date().toISOString(),
    });
    key = created.key;
    server = createApiServer({
      host: '127.0.0.1',
      port: 0,
      logger: silent,
      status: async () => {
        throw new Error('not used here');
      },
      writeback: {
        store,
        connections: [],
        connectorFor: () => {
          throw new Error('not used here');
        },
        kick: () => undefined,
        rateLimit: { perSecond: 1, burst: 3 },
      },
    });
  });
  afterEach(async () => {
    await server.app.close();
    await store.close();
  });

  const get = (authorization?: string) =>
    server.app.inject({
      method: 'GET',
      url: '/v1/writebacks/00000000-0000-7000-8000-000000000000',
      headers: authorization ? { authorization } : {},
    });

  it('allows a key its burst, then answers 429 with Retry-After and a coded body', async () => {
    for (let i = 0; i < 3; i++) expect((await get(`Bearer ${key}`)).statusCode).toBe(404);
    const limited = await get(`Bearer ${key}`);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ code: 'rate_limited' });
    expect(limited.json<{ message: string }>().message).toMatch(/too many requests for this key/);
  });

  it('limits callers without a valid key by address, without touching a keyed caller', async () => {
    let statuses: number[] = [];
    for (let i = 0; i < 61; i++) statuses.push((await get('Bearer tdk_wrong')).statusCode);
    expect(statuses.slice(0, 60).every((s) => s === 401)).toBe(true);
    expect(statuses[60]).toBe(429);
    statuses = [(await get(`Bearer ${key}`)).statusCode];
    expect(statuses).toEqual([404]);
  });
});
