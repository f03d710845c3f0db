import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ApiServer } from '@tendril/api';
import { dentrixEnterprise } from '@tendril/connector-dentrix-enterprise';
import { openDental } from '@tendril/connector-open-dental';
import { openEmr } from '@tendril/connector-openemr';
import { ConnectionConfig, resourceId, sourceIdOf, type ConnectorDefinition } from '@tendril/core';
import {
  createHttpVendorApi,
  createWritebackWorker,
  silentLogger,
  syncStream,
  type WritebackWorker,
} from '@tendril/scheduler';
import { createSqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import { seedDentrixEnterprise } from '@tendril/connector-dentrix-enterprise/testing';
import {
  seedOpenDental,
  startOpenDentalApiFake,
  type OpenDentalApiFake,
} from '@tendril/connector-open-dental/testing';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENEMR_EXAMPLE_PATIENTS, OPENEMR_EXAMPLE_USERS, OPENEMR_SCHEMA } from './support/openemr.js';
import { FIXTURES, OPEN_DENTAL_SCHEMA, REPO_ROOT, requireFixture } from './support/paths.js';
import { createPrivateMariaDb, type PrivateMariaDb } from './support/private-mariadb.js';
import { createVendorKey, startWritebackApi, waitForResult } from './support/writeback.js';

/**
 * Writeback → the very next poll, per connector (docs/writeback.md, "Clock domains"): every stamp a
 * write leaves is in the clock domain the read side declares, so the next poll after a write emits
 * its `created`/`updated` event. Offices east (Tokyo, UTC+9) and west (Phoenix, UTC−7) of UTC, on a
 * MariaDB server whose own zone is neither (UTC+05:45, set as its global `time_zone`, and restored).
 * A stamp written in UTC instead of office time lands 9 hours behind the poll window in Tokyo
 * (never seen) and 7 hours ahead of it in Phoenix (seen 7 hours late).
 *
 * A server of our own (not the shared one on 3306), because the global zone is server-wide.
 */
const SERVER_ZONE = '+05:45';
const OFFICES = [
  { zone: 'Asia/Tokyo', side: 'east', tag: 'tyo' },
  { zone: 'America/Phoenix', side: 'west', tag: 'phx' },
] as const;
/** A poll's window ends before the current second (precision 0 stamps): let the write's second pass. */
const nextSecond = () => new Promise((r) => setTimeout(r, 1100));

/** The zone's offset from UTC as `+09:00` (neither office zone has daylight saving time). */
function offsetOf(zone: string): string {
  const name = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(new Date())
    .find((part) => part.type === 'timeZoneName')!.value;
  return name === 'GMT' ? '+00:00' : name.slice(3);
}

/** `days` ahead at 10:00 office time, 30 minutes, as UTC instants. */
function slot(zone: string, days: number): { start: string; end: string } {
  const day = new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
  const start = new Date(`${day}T10:00:00${offsetOf(zone)}`);
  return {
    start: start.toISOString().replace('.000Z', 'Z'),
    end: new Date(start.getTime() + 30 * 60_000).toISOString().replace('.000Z', 'Z'),
  };
}

/** The office's wall clock now, `YYYY-MM-DD HH:MM:SS`. */
function officeNow(zone: string): string {
  return new Date().toLocaleString('sv-SE', { timeZone: zone }).replace('T', ' ');
}

/** Seconds between two wall times `YYYY-MM-DD HH:MM:SS`. */
const apart = (a: string, b: string) =>
  Math.abs(Date.parse(`${a.replace(' ', 'T')}Z`) - Date.parse(`${b.replace(' ', 'T')}Z`)) / 1000;

let server: PrivateMariaDb;
let previousZone = 'SYSTEM';

beforeAll(async () => {
  server = await createPrivateMariaDb('tendril-clock');
  await server.start();
  const root = await server.connect();
  try {
    previousZone = String(
      ((await root.query('SELECT @@GLOBAL.time_zone AS zone'))[0] as { zone: string }[])[0]!.zone,
    );
    await root.query(`SET GLOBAL time_zone = '${SERVER_ZONE}'`);
  } finally {
    await root.end();
  }
}, 120_000);

afterAll(async () => {
  if (!server) return;
  const root = await server.connect().catch(() => undefined);
  await root?.query(`SET GLOBAL time_zone = '${previousZone}'`);
  await root?.end();
  await server.destroy();
});

/** A database on the private server, loaded by `load` (root connection, multi-statement). */
async function database(name: string, files: readonly string[]): Promise<string> {
  const root = await server.connect();
  try {
    await root.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    await root.query(`USE \`${name}\``);
    // The server's own session zone (not UTC): what the EHR's own connections see.
    await root.query(`SET time_zone = '${SERVER_ZONE}'`);
    for (const file of files) await root.query(readFileSync(requireFixture(file), 'utf8'));
  } finally {
    await root.end();
  }
  return `mysql://root@127.0.0.1:${server.port}/${name}`;
}

/** The API, worker and store of one connector's connections (east and west), and their polling. */
async function harness(
  connector: ConnectorDefinition,
  connections: ConnectionConfig[],
  vendorApi?: (connection: ConnectionConfig) => ReturnType<typeof createHttpVendorApi>,
) {
  const dir = mkdtempSync(join(tmpdir(), `tendril-clock-${connector.id}-`));
  const store: Store = openSqliteStore(join(dir, 'store.db'));
  await store.migrate();
  const url = connections[0]!.database.url!;
  const read = createSqlClient({ url });
  const write = createSqlClient({ url }, { pool: { min: 0, max: 4 } });
  const worker: WritebackWorker = createWritebackWorker({
    store,
    logger: silentLogger,
    connections,
    connectorFor: () => connector,
    readClient: () => read,
    writeClient: () => write,
    ...(vendorApi ? { vendorApi } : {}),
  });
  const { api, base } = await startWritebackApi({
    store,
    connections,
    connectorFor: () => connector,
    kick: () => worker.kick(),
  });
  const key = await createVendorKey(
    store,
    'vendor',
    connections.map((c) => c.id),
  );
  const connectionOf = (id: string) => connections.find((c) => c.id === id)!;
  return {
    store,
    read,
    sync: (connectionId: string, stream: string, full = false) =>
      syncStream(
        { sql: read, store, logger: silentLogger },
        { connection: connectionOf(connectionId), connector, stream, full },
      ),
    async run(connectionId: string, command: string, idempotencyKey: string, input: Record<string, unknown>) {
      const response = await fetch(`${base}/v1/writebacks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ command, connectionId, idempotencyKey, input }),
      });
      expect(response.status).toBe(202);
      const result = await waitForResult(base, key, ((await response.json()) as { id: string }).id);
      expect(result['error'], `${command} ${JSON.stringify(result['error'])}`).toBeNull();
      expect(result['status']).toBe('written');
      return result;
    },
    /** The event types the store holds for one resource of one connection. */
    async events(connectionId: string, resourceIdOf: unknown) {
      return (await store.listEvents({ connectionId, limit: 10_000 }))
        .filter((e) => e.envelope.resourceId === resourceIdOf)
        .map((e) => e.envelope.type);
    },
    async close() {
      await (api as ApiServer).close();
      await store.close();
      await read.close();
      await write.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Harness = Awaited<ReturnType<typeof harness>>;

describe('OpenEMR (sql path): patient_data.last_updated, date and regdate are office wall time (db-local)', () => {
  let h: Harness;
  const connectionId = (tag: string) => `emr-${tag}`;

  beforeAll(async () => {
    const url = await database('tendril_clock_emr', [
      OPENEMR_SCHEMA,
      OPENEMR_EXAMPLE_PATIENTS,
      OPENEMR_EXAMPLE_USERS,
    ]);
    const connections = OFFICES.map((o) =>
      ConnectionConfig.parse({
        id: connectionId(o.tag),
        connector: 'openemr',
        timezone: o.zone,
        database: { url },
        sync: { settleSeconds: 0 },
        writeback: { enabled: true, database: { url } },
      }),
    );
    h = await harness(openEmr, connections);
    // The example rows were stamped in the server's zone by the load; OpenEMR itself stamps in the
    // office's. Both offices share this database, so put the examples' stamps safely in the past.
    for (const table of ['patient_data', 'users', 'facility'])
      await h.read.execute(h.read.knex(table).update({ last_updated: '2024-01-02 03:04:05' }));
    await nextSecond();
  }, 180_000);
  afterAll(async () => h?.close());

  OFFICES.forEach((office, i) => {
    it(`office in ${office.zone} (${office.side} of UTC): Patient.create, Patient.update and a booking are emitted by the very next poll`, async () => {
      const id = connectionId(office.tag);
      const [user] = await h.read.execute(
        h.read.knex('users').where({ authorized: 1, active: 1 }).orderBy('id').limit(1).select('id'),
      );
      const [facility] = await h.read.execute(h.read.knex('facility').orderBy('id').limit(1).select('id'));
      for (const stream of ['patients', 'practitioners', 'offices', 'appointments'])
        await h.sync(id, stream, true);

      const created = await h.run(id, 'Patient.create', `${id}-create`, {
        name: { family: 'Clockwise', given: [office.tag === 'tyo' ? 'Aoi' : 'Sky'] },
        birthDate: '1985-03-04',
        gender: 'female',
        telecom: [
          {
            system: 'phone',
            use: 'mobile',
            value: office.tag === 'tyo' ? '+1 602 555 0101' : '+1 602 555 0102',
          },
        ],
      });
      await nextSecond();
      const afterCreate = await h.sync(id, 'patients');
      expect(afterCreate.created).toBe(1);
      expect(await h.events(id, created['resourceId'])).toContain('patient.created');
      // `date` and `regdate` hold the office's wall time, as OpenEMR's own insert leaves them.
      const [row] = await h.read.execute(
        h.read
          .knex('patient_data')
          .where({ pid: created['sourceId'] })
          .select('date', 'regdate', 'last_updated'),
      );
      for (const column of ['date', 'regdate', 'last_updated'])
        expect(apart(String(row![column]).slice(0, 19), officeNow(office.zone))).toBeLessThan(120);

      await h.run(id, 'Patient.update', `${id}-update`, {
        patientId: created['resourceId'],
        preferredName: 'Tick',
      });
      await nextSecond();
      const afterUpdate = await h.sync(id, 'patients');
      expect(afterUpdate.updated).toBe(1);
      expect(await h.events(id, created['resourceId'])).toContain('patient.updated');

      const booked = await h.run(id, 'Appointment.book', `${id}-book`, {
        patientId: created['resourceId'],
        practitionerIds: [resourceId(id, 'Practitioner', String(user!['id']))],
        locationId: resourceId(id, 'Location', String(facility!['id'])),
        ...slot(office.zone, 3 + i),
      });
      const afterBook = await h.sync(id, 'appointments');
      expect(afterBook.created).toBe(1);
      expect(await h.events(id, booked['resourceId'])).toContain('appointment.created');
    });
  });
});

describe('Dentrix Enterprise (fixture sql path): DDB_LAST_MOD is the office wall time of the writer (client)', () => {
  let h: Harness;
  const connectionId = (tag: string) => `dxe-${tag}`;

  beforeAll(async () => {
    const url = await database('tendril_clock_dxe', [
      resolve(FIXTURES, 'dentrix-enterprise/dentrix_enterprise_11_mariadb.sql'),
      // The tables known from public queries (this repository's file), which the patients stream joins.
      resolve(REPO_ROOT, 'connectors/dentrix-enterprise/fixtures/public-query-tables.mariadb.sql'),
    ]);
    const seeder = createSqlClient({ url });
    await seedDentrixEnterprise(seeder.knex, { patients: 10, seed: 'clock' });
    await seeder.close();
    const connections = OFFICES.map((o) =>
      ConnectionConfig.parse({
        id: connectionId(o.tag),
        connector: 'dentrix-enterprise',
        timezone: o.zone,
        database: { url },
        sync: { settleSeconds: 0 },
        writeback: { enabled: true, database: { url }, allowUnsafeSqlWrites: true, confirmStatus: '7' },
      }),
    );
    h = await harness(dentrixEnterprise, connections);
    await nextSecond();
  }, 180_000);
  afterAll(async () => h?.close());

  OFFICES.forEach((office, i) => {
    it(`office in ${office.zone} (${office.side} of UTC): Patient.create, a booking and its cancellation are emitted by the very next poll`, async () => {
      const id = connectionId(office.tag);
      for (const stream of ['patients', 'practitioners', 'offices', 'operatories', 'appointments'])
        await h.sync(id, stream, true);
      const created = await h.run(id, 'Patient.create', `${id}-create`, {
        name: { family: 'Clockwise', given: [office.tag === 'tyo' ? 'Aoi' : 'Sky'] },
        birthDate: '1985-03-04',
        gender: 'female',
        telecom: [{ system: 'email', value: `${office.tag}@example.org` }],
      });
      await nextSecond();
      expect((await h.sync(id, 'patients')).created).toBe(1);
      expect(await h.events(id, created['resourceId'])).toContain('patient.created');

      const booked = await h.run(id, 'Appointment.book', `${id}-book`, {
        patientId: resourceId(id, 'Patient', sourceIdOf(['1', '1'])),
        practitionerIds: [resourceId(id, 'Practitioner', sourceIdOf(['101', '1']))],
        operatoryId: resourceId(id, 'Location', sourceIdOf(['201', '1'])),
        ...slot(office.zone, 3 + i),
      });
      await nextSecond();
      expect((await h.sync(id, 'appointments')).created).toBe(1);
      await h.run(id, 'Appointment.cancel', `${id}-cancel`, { appointmentId: booked['resourceId'] });
      await nextSecond();
      expect((await h.sync(id, 'appointments')).updated).toBe(1);
      expect(await h.events(id, booked['resourceId'])).toEqual(
        expect.arrayContaining(['appointment.created', 'appointment.updated']),
      );
    });
  });
});

describe('Open Dental (vendor-api path, through a FAKE of the Open Dental API): DateTStamp is the database clock (db-utc)', () => {
  let h: Harness;
  let ehr: Knex;
  const fakes: OpenDentalApiFake[] = [];
  const ids = { patNum: '', provNum: '', op: '' };
  const connectionId = (tag: string) => `od-${tag}`;

  beforeAll(async () => {
    const url = await database('tendril_clock_od', [OPEN_DENTAL_SCHEMA]);
    // Open Dental's own writes (the fake stands in for its API server) on a session in the
    // server's zone, as a server process that never sets one.
    ehr = knexFactory({
      client: 'mysql2',
      connection: {
        host: '127.0.0.1',
        port: server.port,
        user: 'root',
        database: 'tendril_clock_od',
        dateStrings: true,
        supportBigNumbers: true,
        bigNumberStrings: true,
      },
      pool: { min: 0, max: 2 },
    });
    await seedOpenDental(ehr, { patients: 20, seed: 'clock', dialect: 'mysql' });
    await ehr('appointment').where('AptDateTime', '>=', ehr.raw('CURDATE()')).delete();
    ids.patNum = String(
      (await ehr('patient').where({ PatStatus: 0 }).orderBy('PatNum').first('PatNum'))!.PatNum,
    );
    ids.provNum = String(
      (await ehr('provider').where({ IsHidden: 0 }).orderBy('ProvNum').first('ProvNum'))!.ProvNum,
    );
    ids.op = String(
      (await ehr('operatory').where({ IsHidden: 0 }).orderBy('OperatoryNum').first('OperatoryNum'))!
        .OperatoryNum,
    );
    const connections: ConnectionConfig[] = [];
    for (const office of OFFICES) {
      const fake = await startOpenDentalApiFake({
        knex: ehr,
        dialect: 'mysql',
        developerKey: 'dev',
        customerKey: 'cust',
        timezone: office.zone,
      });
      fakes.push(fake);
      connections.push(
        ConnectionConfig.parse({
          id: connectionId(office.tag),
          connector: 'open-dental',
          timezone: office.zone,
          database: { url },
          sync: { settleSeconds: 0 },
          writeback: { enabled: true, api: { url: fake.url, developerKey: 'dev', customerKey: 'cust' } },
        }),
      );
    }
    await nextSecond();
    h = await harness(openDental, connections, (c) =>
      createHttpVendorApi({
        baseUrl: c.writeback!.api!.url,
        headers: openDental.writeback!.apiHeaders!(c.writeback!.api!),
      }),
    );
  }, 180_000);
  afterAll(async () => {
    await h?.close();
    for (const fake of fakes) await fake.close();
    await ehr?.destroy();
  });

  OFFICES.forEach((office, i) => {
    it(`office in ${office.zone} (${office.side} of UTC): Patient.create and a booking are emitted by the very next poll`, async () => {
      const id = connectionId(office.tag);
      for (const stream of [
        'patients',
        'practitioners',
        'offices',
        'operatories',
        'appointment-types',
        'appointments',
      ])
        await h.sync(id, stream, true);
      const created = await h.run(id, 'Patient.create', `${id}-create`, {
        name: { family: 'Clockwise', given: [office.tag === 'tyo' ? 'Aoi' : 'Sky'] },
        birthDate: '1985-03-04',
        gender: 'female',
        telecom: [{ system: 'email', value: `${office.tag}@example.org` }],
      });
      await nextSecond();
      expect((await h.sync(id, 'patients')).created).toBe(1);
      expect(await h.events(id, created['resourceId'])).toContain('patient.created');

      const booked = await h.run(id, 'Appointment.book', `${id}-book`, {
        patientId: resourceId(id, 'Patient', ids.patNum),
        practitionerIds: [resourceId(id, 'Practitioner', ids.provNum)],
        operatoryId: resourceId(id, 'Location', sourceIdOf(['op', ids.op])),
        ...slot(office.zone, 3 + i),
      });
      await nextSecond();
      expect((await h.sync(id, 'appointments')).created).toBe(1);
      expect(await h.events(id, booked['resourceId'])).toContain('appointment.created');
    });
  });
});
