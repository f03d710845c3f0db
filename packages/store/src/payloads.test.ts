import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTendrilError, resourceHash, resourceId, type WritebackCommand } from '@tendril/core';
import { plainPayloads, SEALED_FIELD, sealedPayloads } from './payloads.js';
import { openPostgresStore } from './postgres/open.js';
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from './postgres-test-database.test-helper.js';
import { openSqliteStore } from './sqlite/open.js';
import type { PageCommit, Store } from './types.js';

/** The PHI these tests write; none of it may be readable under the store once it is sealed. */
const FAMILY = 'Okonkwo-Vasquez';
const PHONE = '+1 555 0147 3321';
const ROUTE = { subscriptionId: 'sub-1', connectionIds: [], resourceTypes: [], eventTypes: [] };

function patientPage(count: number, offset = 0): PageCommit {
  return {
    connectionId: 'c1',
    connectorId: 'open-dental',
    stream: 'patient',
    changes: Array.from({ length: count }, (_, i) => {
      const sourceId = String(offset + i + 1);
      const id = resourceId('c1', 'Patient', sourceId);
      // A long note: the envelope spills onto overflow pages, which SQLite frees (not rewrites) on update.
      const note = `${FAMILY} `.repeat(400);
      const resource = {
        resourceType: 'Patient',
        id,
        sourceId,
        name: { family: FAMILY },
        phone: PHONE,
        note,
      };
      const hash = resourceHash(resource);
      return {
        resourceType: 'Patient' as const,
        sourceId,
        resourceId: id,
        kind: 'created' as const,
        hash,
        data: { ...resource, meta: { syncedAt: '2025-01-20T14:05:00.000Z', hash } },
        refs: {},
      };
    }),
    seen: [],
    state: { mode: 'timestamp', watermark: `w${offset}` },
    seenAt: '2025-01-20T14:05:00.000Z',
  };
}

const writeback = (n: number) => ({
  id: `01900000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`,
  clientId: 'key-a',
  connectionId: 'c1',
  command: 'Patient.create' as WritebackCommand,
  idempotencyKey: `idem-${n}`,
  payloadHash: `hash-${n}`,
  input: { name: { family: FAMILY }, phone: PHONE },
  resourceType: 'Patient' as const,
  acceptedAt: '2025-01-20T14:05:00.000Z',
  deadline: '2025-01-20T15:05:00.000Z',
});

interface Backend {
  open(siteKey?: Buffer): Store;
  /** The bytes on disk (SQLite: the file and its WAL), or undefined where the test cannot see them. */
  fileBytes?(): string;
  /** Every payload column's text, read under the store. */
  rawPayloads(): Promise<string[]>;
  /** The raw outbox envelopes, parsed. */
  rawEnvelopes(): Promise<Record<string, unknown>[]>;
}

function describePayloadSealing(name: string, backend: () => Promise<Backend>): void {
  describe(`payloads at rest (${name}; docs/security.md, "PHI at rest")`, () => {
    it('seals the outbox and writeback payloads with a site key, reads them back, and keeps occurredAt for since', async () => {
      const b = await backend();
      const key = randomBytes(32);
      const store = b.open(key);
      try {
        expect(await store.payloadProtection()).toEqual({ protection: 'sealed', converted: 0 });
        const events = await store.commitPage(patientPage(3));
        // A backload's `since` still reads occurredAt inside the sealed column.
        expect(
          await store.deliveries.countCurrent({ subscriptionId: 'sub-1', since: '2025-01-01' }, ROUTE),
        ).toBe(3);
        expect(
          await store.deliveries.countCurrent({ subscriptionId: 'sub-1', since: '2025-02-01' }, ROUTE),
        ).toBe(0);
        await store.writebacks.accept(writeback(1));
        await store.writebacks.finish({
          id: writeback(1).id,
          status: 'written',
          finishedAt: '2025-01-20T14:06:00.000Z',
          sourceId: '501',
          resourceId: resourceId('c1', 'Patient', '501'),
          resource: { resourceType: 'Patient', name: { family: FAMILY }, phone: PHONE },
          connectorId: 'openemr',
        });
        const raw = (await b.rawPayloads()).join('\n');
        expect(raw).not.toContain(FAMILY);
        expect(raw).not.toContain(PHONE);
        for (const envelope of await b.rawEnvelopes()) {
          expect(Object.keys(envelope).sort()).toEqual(['occurredAt', SEALED_FIELD]);
        }
        const listed = await store.listEvents({ connectionId: 'c1', limit: 10 });
        expect(listed.slice(0, 3).map((e) => e.envelope)).toEqual(events.map((e) => e.envelope));
        expect(JSON.stringify(listed[3]?.envelope)).toContain(FAMILY);
        const done = await store.writebacks.get(writeback(1).id);
        expect(done?.input).toEqual(writeback(1).input);
        expect(done?.resource).toMatchObject({ name: { family: FAMILY } });
      } finally {
        await store.close();
      }
    });

    it('converts a plain store in place at its first open with a key, then refuses no key and another key', async () => {
      const b = await backend();
      const plain = b.open();
      const before = await plain.commitPage(patientPage(4));
      await plain.writebacks.accept(writeback(2));
      expect(await plain.payloadProtection()).toEqual({ protection: 'plaintext', converted: 0 });
      await plain.close();
      expect((await b.rawPayloads()).join('\n')).toContain(FAMILY);

      const key = randomBytes(32);
      const sealed = b.open(key);
      try {
        expect(await sealed.payloadProtection()).toEqual({ protection: 'sealed', converted: 5 });
        expect((await b.rawPayloads()).join('\n')).not.toContain(FAMILY);
        const listed = await sealed.listEvents({ connectionId: 'c1', limit: 10 });
        expect(listed.map((e) => e.envelope)).toEqual(before.map((e) => e.envelope));
        expect((await sealed.writebacks.get(writeback(2).id))?.input).toEqual(writeback(2).input);
        // New rows are sealed too.
        await sealed.commitPage(patientPage(1, 10));
      } finally {
        await sealed.close();
      }
      expect((await b.rawPayloads()).join('\n')).not.toContain(FAMILY);
      // Nor do the plain values linger in the file's free pages or its WAL after the conversion.
      if (b.fileBytes) expect(b.fileBytes()).not.toContain(FAMILY);

      const again = b.open(key);
      expect(await again.payloadProtection()).toEqual({ protection: 'sealed', converted: 0 });
      await again.close();

      for (const wrong of [undefined, randomBytes(32)]) {
        const store = b.open(wrong);
        let error: unknown;
        try {
          await store.listEvents({ limit: 1 });
        } catch (e) {
          error = e;
        } finally {
          await store.close();
        }
        expect(isTendrilError(error, 'TENDRIL_E_STORE_KEY')).toBe(true);
        expect(String((error as Error).message)).not.toContain(FAMILY);
        expect(JSON.stringify(error)).not.toContain(FAMILY);
      }
    });
  });
}

let dir: string;
let counter = 0;
let pgDatabase: PostgresTestDatabase;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tendril-payloads-'));
  pgDatabase = await createPostgresTestDatabase();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pgDatabase.drop();
});

function sqliteRows<T>(path: string, query: string): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(query).all() as T[];
  } finally {
    db.close();
  }
}

describePayloadSealing('SQLite file', async () => {
  const path = join(dir, `store-${(counter += 1)}.db`);
  return {
    open: (siteKey) => openSqliteStore(path, siteKey === undefined ? {} : { siteKey }),
    fileBytes: () =>
      ['', '-wal']
        .filter((suffix) => existsSync(`${path}${suffix}`))
        .map((suffix) => readFileSync(`${path}${suffix}`).toString('latin1'))
        .join(''),
    rawPayloads: async () =>
      sqliteRows<{ t: string | null }>(
        path,
        'SELECT envelope_json AS t FROM outbox UNION ALL SELECT input_json FROM writebacks UNION ALL SELECT resource_json FROM writebacks',
      ).map((r) => r.t ?? ''),
    rawEnvelopes: async () =>
      sqliteRows<{ t: string }>(path, 'SELECT envelope_json AS t FROM outbox').map(
        (r) => JSON.parse(r.t) as Record<string, unknown>,
      ),
  };
});

describePayloadSealing('PostgreSQL', async () => {
  const schema = pgDatabase.nextSchema();
  return {
    open: (siteKey) =>
      openPostgresStore(pgDatabase.url, {
        schema,
        poolSize: 2,
        ...(siteKey === undefined ? {} : { siteKey }),
      }),
    rawPayloads: async () =>
      (
        await pgDatabase.query<{ t: string | null }>(
          'SELECT envelope_json::text AS t FROM outbox UNION ALL SELECT input_json::text FROM writebacks UNION ALL SELECT resource_json::text FROM writebacks',
          [],
          schema,
        )
      ).map((r) => r.t ?? ''),
    rawEnvelopes: async () =>
      (await pgDatabase.query<{ t: string }>('SELECT envelope_json::text AS t FROM outbox', [], schema)).map(
        (r) => JSON.parse(r.t) as Record<string, unknown>,
      ),
  };
});

describe('a payload read as its JSON text (the json delivery body)', () => {
  const envelope = { id: 'e1', data: { family: FAMILY, phone: PHONE, '10': 1, '2': 2, line: '\u2028' } };
  const key = randomBytes(32);
  const plain = plainPayloads();
  const sealed = sealedPayloads(key);

  it('is the text write serialised, plain or opened, and parses to what read gives', () => {
    for (const codec of [plain, sealed]) {
      const text = codec.readText('outbox.envelope_json', codec.write('outbox.envelope_json', envelope));
      expect(text).toBe(JSON.stringify(envelope));
      expect(JSON.parse(text!)).toEqual(
        codec.read('outbox.envelope_json', codec.write('outbox.envelope_json', envelope)),
      );
    }
    // A store being sealed still holds plain values: they read as they are.
    expect(sealed.readText('outbox.envelope_json', plain.write('outbox.envelope_json', envelope))).toBe(
      JSON.stringify(envelope),
    );
    // PostgreSQL hands the column back parsed: no text to give.
    expect(plain.readText('outbox.envelope_json', envelope)).toBeUndefined();
  });

  it('refuses what read refuses: a sealed value without the key, another key, another column', () => {
    const stored = sealed.write('outbox.envelope_json', envelope);
    const refusal = (read: () => unknown) => {
      try {
        read();
      } catch (error) {
        return isTendrilError(error) ? error.code : 'other';
      }
      return 'read';
    };
    expect(refusal(() => plain.readText('outbox.envelope_json', stored))).toBe('TENDRIL_E_STORE_KEY');
    expect(refusal(() => sealedPayloads(randomBytes(32)).readText('outbox.envelope_json', stored))).toBe(
      'TENDRIL_E_STORE_KEY',
    );
    expect(refusal(() => sealed.readText('writebacks.input_json', stored))).toBe('TENDRIL_E_STORE');
  });
});
