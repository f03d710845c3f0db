import {
  ConnectionConfig,
  defineConnector,
  defineTable,
  mapRow,
  mappingContext,
  t,
  type MappedRow,
  type TableDefinition,
} from '@tendril/core';
import { dentrixEnterprise } from '@tendril/connector-dentrix-enterprise';
import { silentLogger, syncConnection } from '@tendril/scheduler';
import { createSqlClient, lookupByKeysQuery, type SqlClient } from '@tendril/sql';
import { openSqliteStore } from '@tendril/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFixtureDatabase as createDentrixDatabase,
  type FixtureDatabase,
} from '../connectors/dentrix-enterprise/src/fixture-database.test-support.js';
import { createOpenEmrDatabase, type OpenEmrDatabase } from './support/openemr.js';

/*
 * Golden tests of the mapping language on real vendor schemas loaded into MariaDB (the OpenEMR
 * 8.2 schema and the Dentrix Enterprise 11 replica): each feature is declared as data over real
 * tables and columns, read with the queries core builds, and mapped to exact resources.
 * - OpenEMR `patient_data` + its contact tables: joins with constant conditions
 *   (`contact.foreign_table_name = 'patient_data'`, `contact_address.use = 'billing'`), two
 *   address groups and contact points from two tables;
 * - OpenEMR `billing` and calendar events: a code system looked up by the prefix of `code_type`,
 *   a status held in the first character of `pc_apptstatus`;
 * - Dentrix `DDB_APPT_BASE`: an instant from `APPTDATE` + `TIME_HOUR` + `TIME_MINUTE` (an
 *   impossible hour omitted with TENDRIL_W_IMPOSSIBLE_DATE, counted by the engine), and the
 *   `DDB_LAST_MOD` cursor falling back to `CREATEDATE` for rows never stamped, through the real
 *   sync engine.
 * None of the four real fixtures keeps a date in separate year/month/day columns; that form of
 * `t.dateFromParts` is covered by core/src/mapping-language.test.ts and the scaffolded-EHR test.
 */

const SYNCED_AT = '2025-03-10T00:00:00Z';

function liveOf(mapped: MappedRow | undefined) {
  expect(mapped?.kind).toBe('live');
  return mapped?.kind === 'live' ? mapped : undefined;
}

async function readMapped(
  sql: SqlClient,
  table: TableDefinition,
  keys: readonly (readonly string[])[],
  ctx: ReturnType<typeof mappingContext>,
): Promise<MappedRow[]> {
  const rows = await sql.execute(lookupByKeysQuery(sql, table, keys));
  const order = (row: Record<string, unknown>) =>
    keys.findIndex((k) => k.every((v, i) => String(row[table.key[i]!]) === v));
  return rows.sort((a, b) => order(a) - order(b)).map((row) => mapRow(table, row, ctx, SYNCED_AT));
}

describe('mapping language on the OpenEMR 8.2 schema (MariaDB)', () => {
  let db: OpenEmrDatabase;
  let sql: SqlClient;
  const ctx = mappingContext({ connectionId: 'emr', connectorId: 'openemr', timezone: 'America/Phoenix' });

  /**
   * A patient with the home address of `patient_data` and the billing address OpenEMR 8 keeps in
   * its contact tables: contact (the patient's, by a constant table name) → contact_address (the
   * active primary billing one, by constants) → addresses. A work e-mail comes from contact_telecom.
   */
  const patients = defineTable({
    resourceType: 'Patient',
    table: 'patient_data',
    key: ['pid'],
    columns: {
      pid: 'bigint(20)',
      street: 'varchar(255)',
      street_line_2: 'tinytext',
      city: 'varchar(255)',
      state: 'varchar(255)',
      postal_code: 'varchar(255)',
      phone_home: 'varchar(255)',
      phone_cell: 'varchar(255)',
      email: 'varchar(255)',
      last_updated: 'datetime',
    },
    cursor: { mode: 'timestamp', column: 'last_updated', clock: 'db-local', precision: 0 },
    joins: [
      {
        table: 'contact',
        alias: 'c',
        on: { foreign_id: 'pid' },
        onValues: { foreign_table_name: 'patient_data' },
        key: ['id'],
        columns: { id: 'bigint(20)', foreign_id: 'bigint(20)', foreign_table_name: 'varchar(255)' },
      },
      {
        table: 'contact_address',
        alias: 'ca',
        on: { contact_id: 'c.id' },
        onValues: { use: 'billing', status: 'A', is_primary: 'Y' },
        key: ['id'],
        columns: {
          id: 'bigint(20)',
          contact_id: 'bigint(20)',
          address_id: 'bigint(20)',
          use: 'varchar(255)',
          status: 'char(1)',
          is_primary: 'char(1)',
        },
      },
      {
        table: 'addresses',
        alias: 'bill',
        on: { id: 'ca.address_id' },
        key: ['id'],
        columns: {
          id: 'int(11)',
          line1: 'varchar(255)',
          line2: 'varchar(255)',
          city: 'varchar(255)',
          state: 'varchar(35)',
          zip: 'varchar(10)',
        },
      },
      {
        table: 'contact_telecom',
        alias: 'work',
        on: { contact_id: 'c.id' },
        onValues: { system: 'email', use: 'work', status: 'A', is_primary: 'Y' },
        key: ['id'],
        columns: {
          id: 'bigint(20)',
          contact_id: 'bigint(20)',
          system: 'varchar(255)',
          use: 'varchar(255)',
          value: 'varchar(255)',
          status: 'char(1)',
          is_primary: 'char(1)',
        },
      },
    ],
    fields: {
      addresses: t.addresses([
        {
          use: 'home',
          line: ['street', 'street_line_2'],
          city: 'city',
          state: 'state',
          postalCode: 'postal_code',
        },
        {
          use: 'billing',
          line: ['bill.line1', 'bill.line2'],
          city: 'bill.city',
          state: 'bill.state',
          postalCode: 'bill.zip',
        },
      ]),
      telecom: t.contactPoints([
        { column: 'phone_cell', system: 'phone', use: 'mobile' },
        { column: 'phone_home', system: 'phone', use: 'home' },
        { column: 'email', system: 'email' },
        { column: 'work.value', system: 'email', use: 'work' },
      ]),
    },
  });

  /** Billing lines whose code system is named by the beginning of `code_type` (`CPT4`, `HCPCS`, `ICD10`). */
  const billing = defineTable({
    resourceType: 'Procedure',
    table: 'billing',
    key: ['id'],
    columns: { id: 'int(11)', pid: 'bigint(20)', code_type: 'varchar(15)', code: 'varchar(20)' },
    cursor: { mode: 'snapshot' },
    constants: { status: 'completed' },
    fields: {
      patientId: t.ref('Patient', 'pid'),
      code: t.compute(['code_type', 'code'], ([type, code], c) => {
        const system = t.lookupPrefix({
          CPT: 'http://www.ama-assn.org/go/cpt',
          HCPCS: 'urn:tendril:hcpcs',
          ICD10: 'http://hl7.org/fhir/sid/icd-10-cm',
        })(type, c) as string | undefined;
        const value = t.str()(code, c) as string | undefined;
        return system && value ? { coding: [{ system, code: value }] } : undefined;
      }),
    },
  });

  /** Calendar events whose status is the first character of `pc_apptstatus`. */
  const events = defineTable({
    resourceType: 'Appointment',
    table: 'openemr_postcalendar_events',
    key: ['pc_eid'],
    columns: { pc_eid: 'int(11) unsigned', pc_apptstatus: 'varchar(15)' },
    cursor: { mode: 'snapshot' },
    fields: {
      status: t.col(
        'pc_apptstatus',
        t.slice(0, 1),
        t.lookup({ x: 'cancelled', '?': 'noshow', '@': 'arrived', '>': 'fulfilled' }, 'booked'),
      ),
    },
  });

  beforeAll(async () => {
    db = await createOpenEmrDatabase('mapping_language');
    const connection = await db.connect();
    try {
      await connection.query(`
        INSERT INTO patient_data (pid, fname, lname, street, street_line_2, city, state, postal_code, phone_home, phone_cell, email)
        VALUES (1, 'Ana', 'Rivera', '12 Palm Ln', 'Unit 4', 'Phoenix', 'AZ', '85004', '602-555-0101', '(602) 555-0102', 'Ana@Example.com'),
               (2, 'Ben', 'Okoro', '', NULL, '', '', '', '', '', ''),
               (3, 'Cy', 'Lund', '9 Elm St', NULL, 'Tempe', 'AZ', '85281', '', '', '');
        INSERT INTO contact (id, foreign_table_name, foreign_id)
        VALUES (10, 'patient_data', 1), (11, 'patient_data', 2), (12, 'users', 3);
        INSERT INTO addresses (id, line1, line2, city, state, zip, foreign_id)
        VALUES (100, 'PO Box 77', NULL, 'Phoenix', 'AZ', '85001', NULL),
               (101, '1 Old Rd', NULL, 'Mesa', 'AZ', '85201', NULL),
               (102, '5 Bill Ave', 'Floor 2', 'Tucson', 'AZ', '85701', NULL),
               (103, '7 Staff Way', NULL, 'Tempe', 'AZ', '85281', NULL);
        INSERT INTO contact_address (contact_id, address_id, \`use\`, status, is_primary)
        VALUES (10, 100, 'billing', 'A', 'Y'), (10, 101, 'home', 'A', 'Y'),
               (11, 102, 'billing', 'A', 'Y'), (12, 103, 'billing', 'A', 'Y');
        INSERT INTO contact_telecom (contact_id, \`system\`, \`use\`, value, status, is_primary)
        VALUES (10, 'email', 'work', 'ana.rivera@clinic.example', 'A', 'Y'),
               (10, 'email', 'home', 'other@example.com', 'A', 'Y'),
               (11, 'email', 'work', 'old@example.com', 'I', 'Y');
        INSERT INTO billing (id, pid, code_type, code) VALUES (1, 1, 'CPT4', '99213'), (2, 1, 'HCPCS', 'D1110'),
               (3, 1, 'ICD10', 'E11.9'), (4, 1, 'LOINC', '4548-4');
        INSERT INTO openemr_postcalendar_events (pc_eid, pc_multiple, pc_eventDate, pc_apptstatus)
          VALUES (1, 0, '2025-03-01', '@'), (2, 0, '2025-03-01', 'x'), (3, 0, '2025-03-01', '-'), (4, 0, '2025-03-01', '> checked out');
      `);
    } finally {
      await connection.end();
    }
    sql = createSqlClient({ url: db.url });
  });

  afterAll(async () => {
    await sql?.close();
    await db?.drop();
  });

  it('joins side tables by constant conditions and maps two address groups and two telecom tables', async () => {
    const [ana, ben, cy] = (await readMapped(sql, patients, [['1'], ['2'], ['3']], ctx)).map(liveOf);
    expect(ana!.resource['addresses']).toEqual([
      { use: 'home', line: ['12 Palm Ln', 'Unit 4'], city: 'Phoenix', state: 'AZ', postalCode: '85004' },
      { use: 'billing', line: ['PO Box 77'], city: 'Phoenix', state: 'AZ', postalCode: '85001' },
    ]);
    expect(ana!.resource['telecom']).toEqual([
      { system: 'phone', value: '+16025550102', use: 'mobile', rank: 1 },
      { system: 'phone', value: '+16025550101', use: 'home', rank: 2 },
      { system: 'email', value: 'ana@example.com', rank: 3 },
      { system: 'email', value: 'ana.rivera@clinic.example', use: 'work', rank: 4 },
    ]);
    // Only the billing group; the inactive work e-mail is not joined.
    expect(ben!.resource['addresses']).toEqual([
      { use: 'billing', line: ['5 Bill Ave', 'Floor 2'], city: 'Tucson', state: 'AZ', postalCode: '85701' },
    ]);
    expect(ben!.resource['telecom']).toBeUndefined();
    // Contact 12 belongs to a user row with the same id, not to this patient.
    expect(cy!.resource['addresses']).toEqual([
      { use: 'home', line: ['9 Elm St'], city: 'Tempe', state: 'AZ', postalCode: '85281' },
    ]);
  });

  it('names a code system by the beginning of code_type', async () => {
    const mapped = (await readMapped(sql, billing, [['1'], ['2'], ['3'], ['4']], ctx)).map(liveOf);
    expect(mapped.map((m) => m!.resource['code'])).toEqual([
      { coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '99213' }] },
      { coding: [{ system: 'urn:tendril:hcpcs', code: 'D1110' }] },
      { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'E11.9' }] },
      undefined,
    ]);
  });

  it('reads a status from the first character of a code', async () => {
    const mapped = (await readMapped(sql, events, [['1'], ['2'], ['3'], ['4']], ctx)).map(liveOf);
    expect(mapped.map((m) => m!.resource['status'])).toEqual(['arrived', 'cancelled', 'booked', 'fulfilled']);
  });
});

describe('mapping language on the Dentrix Enterprise 11 replica (MariaDB), through the sync engine', () => {
  let db: FixtureDatabase;
  let sql: SqlClient;
  const ZONE = 'America/Chicago';

  /** DDB_APPT_BASE with the slot from its parts and the change stamp falling back to CREATEDATE. */
  const appointments = defineTable({
    resourceType: 'Appointment',
    table: 'DDB_APPT_BASE',
    key: ['APPTID', 'APPTDB'],
    columns: {
      APPTID: 'int',
      APPTDB: 'int',
      APPTDATE: 'datetime',
      TIME_HOUR: 'smallint',
      TIME_MINUTE: 'smallint',
      CREATEDATE: 'datetime',
      DDB_LAST_MOD: 'datetime',
    },
    cursor: {
      mode: 'timestamp',
      column: 'DDB_LAST_MOD',
      fallback: 'CREATEDATE',
      clock: 'db-local',
      precision: 3,
    },
    constants: { status: 'booked' },
    fields: {
      start: t.localInstantFromParts({ date: 'APPTDATE', hour: 'TIME_HOUR', minute: 'TIME_MINUTE' }),
    },
  });
  const connector = defineConnector({
    id: 'mapping-language-test',
    displayName: 'mapping language test',
    dialects: ['mysql'],
    versions: ['test'],
    verification: { level: 'real-columns', against: 'Dentrix Enterprise 11 replica (test only)' },
    optionsSchema: dentrixEnterprise.optionsSchema,
    streams: { appointments },
  });
  const connection = () =>
    ConnectionConfig.parse({
      id: 'dxe-lang',
      connector: connector.id,
      timezone: ZONE,
      database: { url: db.url },
      sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: 2 },
    });
  /** An office-local wall time `secondsAgo` before now, as DATETIME(3) text. */
  const localStamp = (secondsAgo: number) => {
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: ZONE,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(new Date(Date.now() - secondsAgo * 1000));
    const get = (type: string) => parts.find((p) => p.type === type)!.value;
    return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}.000`;
  };
  const insert = (id: number, hour: number, lastMod: string | null, created: string | null) =>
    db.connection.query(
      `INSERT INTO DDB_APPT_BASE (APPTID, APPTDB, APPTDATE, TIME_HOUR, TIME_MINUTE, CREATEDATE, DDB_LAST_MOD,
                                  WasScheduled, WasEnabledForEventsStatus, EStatus)
       VALUES (?, 1, '2025-06-02 00:00:00.000', ?, 30, ?, ?, 1, 0, 0)`,
      [id, hour, created, lastMod],
    );

  beforeAll(async () => {
    db = await createDentrixDatabase('language');
    sql = createSqlClient({ url: db.url });
  });
  afterAll(async () => {
    await sql?.close();
    await db?.drop();
  });

  it('reads unstamped rows by their creation time, and omits an impossible hour with a counted warning', async () => {
    const store = openSqliteStore(':memory:');
    await store.migrate();
    const run = () =>
      syncConnection({ sql, store, logger: silentLogger }, { connection: connection(), connector });
    try {
      await insert(1, 9, '2025-01-05 10:00:00.000', '2025-01-01 08:00:00.000');
      await insert(2, 10, null, '2025-01-02 09:00:00.000'); // never stamped: found by CREATEDATE
      await insert(3, 24, '2025-01-06 10:00:00.000', null); // TIME_HOUR 24 does not exist
      await insert(4, 11, null, null); // no stamp at all: invisible to polls (a full re-read finds it)
      const first = await run();
      expect(first.errors).toEqual([]);
      expect(first.result.streams[0]).toMatchObject({ read: 3, created: 3 });
      expect(first.warnings).toEqual([
        {
          stream: 'appointments',
          code: 'TENDRIL_W_IMPOSSIBLE_DATE',
          table: 'DDB_APPT_BASE',
          field: 'start',
          count: 1,
        },
      ]);
      const events = await store.listEvents({ connectionId: 'dxe-lang', limit: 100 });
      const bySource = new Map(events.map((e) => [e.sourceId, e.envelope.data]));
      expect(bySource.get('1:1')?.['start']).toBe('2025-06-02T14:30:00Z');
      expect(bySource.get('2:1')?.['start']).toBe('2025-06-02T15:30:00Z');
      expect(bySource.get('2:1')?.['meta']).toMatchObject({ sourceUpdatedAt: '2025-01-02T15:00:00Z' });
      expect(bySource.has('3:1')).toBe(true);
      expect(bySource.get('3:1')?.['start']).toBeUndefined();
      expect(bySource.has('4:1')).toBe(false);

      // An unstamped row created after the last poll is read by the next poll through the fallback.
      await insert(5, 12, null, localStamp(30));
      const second = await run();
      expect(second.result.streams[0]).toMatchObject({ created: 1, updated: 0 });
      expect(second.warnings).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
