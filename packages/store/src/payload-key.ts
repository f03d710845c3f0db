import type { Kysely } from 'kysely';
import { TendrilError } from '@tendril/core';
import { isSealed, type PayloadCodec } from './payloads.js';
import type { StoreTables } from './tables.js';
import type { PayloadKeyReport } from './types.js';

const KEY_SETTING = 'payload_key_id';
const BATCH = 500;

/**
 * Run once per store open, after the migrations (docs/security.md, "PHI at rest"):
 * - with a key and a store that records it: nothing to do;
 * - with a key and a store that records none: every plain payload row is sealed in place, in batches
 *   of one transaction each (a crash resumes where it stopped: sealed rows are skipped), and then
 *   the key's id is recorded;
 * - with a key and a store that records another key, or without a key and a store that records
 *   one: refused with TENDRIL_E_STORE_KEY before anything is read or written.
 */
export async function settlePayloadKey(
  db: Kysely<StoreTables>,
  codec: PayloadCodec,
  transaction: <T>(fn: (db: Kysely<StoreTables>) => Promise<T>) => Promise<T>,
  scrub: (db: Kysely<StoreTables>) => Promise<void>,
): Promise<PayloadKeyReport> {
  const recorded = (
    await db.selectFrom('store_settings').select('value').where('name', '=', KEY_SETTING).executeTakeFirst()
  )?.value;
  if (codec.keyId === undefined) {
    if (recorded !== undefined) {
      throw new TendrilError(
        'TENDRIL_E_STORE_KEY',
        'The agent store is encrypted with a site key and none was given; set TENDRIL_SITE_KEY or TENDRIL_SITE_KEY_FILE to the key `tendril init` showed for this site.',
        { retryable: false },
      );
    }
    return { protection: 'plaintext', converted: 0 };
  }
  if (recorded !== undefined) {
    if (recorded !== codec.keyId) {
      throw new TendrilError(
        'TENDRIL_E_STORE_KEY',
        "The agent store is encrypted with another site key than the one given; start the agent with this store's site key (a key made by `tendril init --force` cannot read a store made before it).",
        { retryable: false, details: { storeKeyId: recorded, givenKeyId: codec.keyId } },
      );
    }
    return { protection: 'sealed', converted: 0 };
  }
  let converted = 0;
  converted += await sealTable(transaction, codec, 'outbox');
  converted += await sealTable(transaction, codec, 'writebacks');
  // The plain values' old bytes must not stay behind in free pages or the WAL.
  if (converted > 0) await scrub(db);
  await transaction(async (tx) => {
    await tx
      .insertInto('store_settings')
      .values({ name: KEY_SETTING, value: codec.keyId! })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: codec.keyId! }))
      .execute();
  });
  return { protection: 'sealed', converted };
}

/** Seals a table's plain payloads, walking it by primary key in batches. */
async function sealTable(
  transaction: <T>(fn: (db: Kysely<StoreTables>) => Promise<T>) => Promise<T>,
  codec: PayloadCodec,
  table: 'outbox' | 'writebacks',
): Promise<number> {
  let after = '';
  let converted = 0;
  for (;;) {
    const done = await transaction(async (tx) => {
      let sealed = 0;
      let last: string | undefined;
      if (table === 'outbox') {
        const rows = await tx
          .selectFrom('outbox')
          .select(['id', 'envelope_json'])
          .where('id', '>', after)
          .orderBy('id')
          .limit(BATCH)
          .execute();
        for (const row of rows) {
          last = row.id;
          if (isSealed(row.envelope_json)) continue;
          const envelope = codec.read<{ occurredAt?: unknown }>('outbox.envelope_json', row.envelope_json);
          await tx
            .updateTable('outbox')
            .set({ envelope_json: sealEnvelope(codec, envelope) })
            .where('id', '=', row.id)
            .execute();
          sealed += 1;
        }
      } else {
        const rows = await tx
          .selectFrom('writebacks')
          .select(['id', 'input_json', 'resource_json'])
          .where('id', '>', after)
          .orderBy('id')
          .limit(BATCH)
          .execute();
        for (const row of rows) {
          last = row.id;
          const plainInput = !isSealed(row.input_json);
          const plainResource = row.resource_json !== null && !isSealed(row.resource_json);
          if (!plainInput && !plainResource) continue;
          await tx
            .updateTable('writebacks')
            .set({
              ...(plainInput
                ? {
                    input_json: codec.write(
                      'writebacks.input_json',
                      codec.read('writebacks.input_json', row.input_json),
                    ),
                  }
                : {}),
              ...(plainResource
                ? {
                    resource_json: codec.write(
                      'writebacks.resource_json',
                      codec.read('writebacks.resource_json', row.resource_json),
                    ),
                  }
                : {}),
            })
            .where('id', '=', row.id)
            .execute();
          sealed += 1;
        }
      }
      return { sealed, last };
    });
    converted += done.sealed;
    if (done.last === undefined) return converted;
    after = done.last;
  }
}

/**
 * An event envelope as the outbox column holds it: sealed, with `occurredAt` left in clear for a
 * backload's `since` (an instant of a change, not a patient's data).
 */
export function sealEnvelope(codec: PayloadCodec, envelope: { occurredAt?: unknown }): string {
  return codec.keyId === undefined
    ? JSON.stringify(envelope)
    : codec.write('outbox.envelope_json', envelope, { occurredAt: envelope.occurredAt });
}
