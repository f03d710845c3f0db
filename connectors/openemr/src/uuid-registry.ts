import { randomBytes } from 'node:crypto';
import { writeStamp, type ColumnDeclarations, type WritebackDb } from '@tendril/core';

/**
 * OpenEMR's `uuid_registry`: every uuid OpenEMR hands out, with the table and id column it names.
 * No stream reads it; writeback registers the uuid of each row it inserts, as OpenEMR's services
 * do. `created` is a TIMESTAMP (UTC inside, shown in the session's zone): written `db-utc`.
 */
export const uuidRegistryTable = {
  table: 'uuid_registry',
  columns: {
    uuid: 'binary(16)',
    table_name: 'varchar(255)',
    table_id: 'varchar(255)',
    created: 'timestamp',
  } satisfies ColumnDeclarations,
} as const;

/** A fresh binary(16) uuid, time-ordered like OpenEMR's registry (timestamp first). */
export function newUuid(): Buffer {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}

/** Registers `uuid` as the id of a new row of `table` (id column `idColumn`), in the write transaction. */
export async function registerUuid(
  db: WritebackDb,
  uuid: Buffer,
  table: string,
  idColumn: string,
): Promise<void> {
  await db.insert('uuid_registry', {
    uuid,
    table_name: table,
    table_id: idColumn,
    created: writeStamp('db-utc'),
  });
}
