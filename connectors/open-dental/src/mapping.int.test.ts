import {
  mapRow,
  mappingContext,
  resourceHash,
  resourceId,
  type MappedRow,
  type RowCondition,
  type TableDefinition,
} from '@tendril/core';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureDatabase, type FixtureDatabase } from './fixture-database.test-support.js';
import { DEFAULT_OFFICE_ROW, openDental, openDentalOptionsSchema } from './index.js';

const CONNECTION = 'smile-dental-main';
const SYNCED_AT = '2025-03-10T00:00:00Z';
const ctxWith = (options: Record<string, unknown>) =>
  mappingContext({
    connectionId: CONNECTION,
    connectorId: 'open-dental',
    timezone: 'America/New_York',
    options: openDentalOptionsSchema.parse(options),
  });
const ctx = ctxWith({});
const id = (type: string, sourceId: string) => resourceId(CONNECTION, type, sourceId);

/** The resource a live row must map to: `body` plus the meta the engine derives from it. */
function live(body: Record<string, unknown>, sourceUpdatedAt?: string) {
  return {
    ...body,
    meta: {
      source: { system: 'open-dental', connectionId: CONNECTION },
      ...(sourceUpdatedAt ? { sourceUpdatedAt } : {}),
      syncedAt: SYNCED_AT,
      hash: resourceHash(body),
    },
  };
}

function resourceOf(mapped: MappedRow) {
  expect(mapped.kind).toBe('live');
  return mapped.kind === 'live' ? mapped.resource : undefined;
}

/**
 * Realistic rows for a small office in New Jersey (clinics off, so most rows say ClinicNum 0, plus
 * one Portland clinic). Stamps are written in UTC, as Open Dental's session-less MySQL would.
 */
const SEED = [
  `INSERT INTO provider (ProvNum, Abbr, LName, FName, MI, Suffix, Specialty, StateLicense, IsSecondary, IsHidden, NationalProvID, DateTStamp)
   VALUES (7, 'DrChen', 'Chen', 'Sarah', 'L', 'DDS', 301, 'NJ12345', 0, 0, '1234567893', '2025-01-05 14:00:00'),
          (9, 'HygPat', 'Patel', 'Priya', '', 'RDH', 302, '', 1, 0, '', '2025-01-05 14:00:00')`,
  `INSERT INTO clinic (ClinicNum, Description, Abbr, Address, City, State, Zip, Phone, IsHidden, TimeZone)
   VALUES (2, 'Portland Smiles', 'PDX', '500 SW Morrison St', 'Portland', 'OR', '97204', '5035550100', 1, 'Pacific Standard Time')`,
  `INSERT INTO operatory (OperatoryNum, OpName, Abbrev, IsHidden, ClinicNum, IsWebSched, DateTStamp)
   VALUES (3, 'Op 3 - Hygiene', 'OP3', 0, 0, 0, '2025-01-06 09:00:00')`,
  `INSERT INTO appointmenttype (AppointmentTypeNum, AppointmentTypeName, IsHidden, Pattern)
   VALUES (2, 'Crown prep', 0, '//XXXXXXXXXXXXXX//')`,
  `INSERT INTO patient (PatNum, LName, FName, MiddleI, Preferred, Title, PatStatus, Gender, Birthdate, Address, Address2, City, State, Zip,
                        HmPhone, WkPhone, WirelessPhone, Guarantor, Email, PriProv, ClinicNum, ChartNumber, Language, DateTStamp)
   VALUES (1042, 'Rivera', 'Ana', 'Maria', 'Annie', 'Ms.', 0, 1, '1987-04-12', '12 Elm St', 'Apt 4', 'Springfield', 'NJ', '07081',
           '555.555.0100', '', '(555) 555-0142', 1040, 'Ana.Rivera@Example.com', 7, 0, 'A1042', 'spa', '2025-03-01 17:00:00'),
          (1043, 'Gone', 'Gary', '', '', '', 4, 0, '1970-01-01', '', '', '', '', '', '', '', '', 1043, '', 7, 0, '', '', '2025-03-01 17:00:00'),
          (1044, 'Okafor', 'James', '', '', '', 5, 2, '0001-01-01', '', '', '', '', '', '', '', '', 1044, '', 7, 2, '', 'Tahitian', '2025-03-02 08:30:00')`,
  // An UPDATE moves DateTStamp (ON UPDATE CURRENT_TIMESTAMP) unless it sets it, as here.
  `UPDATE patient SET DateTimeDeceased = '2024-11-02 00:00:00', DateTStamp = '2025-03-02 08:30:00' WHERE PatNum = 1044`,
  `INSERT INTO appointment (AptNum, PatNum, AptStatus, Pattern, Op, Note, ProvNum, ProvHyg, AptDateTime, IsNewPatient, ClinicNum,
                            DateTimeArrived, AppointmentTypeNum, SecDateTEntry, DateTStamp)
   VALUES (501, 1042, 1, 'XX//XX', 3, 'Bring previous x-rays', 7, 9, '2025-03-09 09:00:00', 1, 0,
           '2025-03-09 08:55:00', 2, '2025-02-01 10:30:00', '2025-03-09 13:56:00'),
          (502, 1044, 5, '//XXXX//', 0, NULL, 7, 0, '2025-03-08 09:00:00', 0, 2,
           '0001-01-01 00:00:00', 0, '0001-01-01 00:00:00', '2025-03-08 15:00:00'),
          (503, 1042, 6, 'XXXX', 0, 'Planned crown', 7, 0, '0001-01-01 00:00:00', 0, 0,
           '0001-01-01 00:00:00', 0, '2025-02-01 10:31:00', '2025-02-01 15:31:00')`,
  `INSERT INTO procedurecode (CodeNum, ProcCode, Descript, AbbrDesc, TreatArea)
   VALUES (10, 'D2393', 'Resin-based composite - three surfaces, posterior', 'C3', 1),
          (11, 'D4341', 'Periodontal scaling and root planing - four or more teeth per quadrant', 'SRP4+', 4)`,
  `INSERT INTO procedurelog (ProcNum, PatNum, AptNum, ProcDate, ProcFee, Surf, ToothNum, ProcStatus, ProvNum, DateEntryC, ClinicNum,
                             CodeNum, UnitQty, BaseUnits, DateTStamp)
   VALUES (9001, 1042, 501, '2025-03-09', 185.5, 'MOD', '30', 2, 7, '2025-03-09', 0, 10, 1, 0, '2025-03-09 14:20:00'),
          (9002, 1042, 0, '2025-03-09', 220, 'UL', '', 1, 9, '0001-01-01', 0, 11, 1, 0, '2025-03-09 14:21:00'),
          (9003, 1042, 0, '2025-03-09', 0, 'O', '19', 7, 7, '0001-01-01', 0, 10, 1, 0, '2025-03-09 14:22:00'),
          (9004, 1042, 0, '2025-03-09', 95, 'O', '19', 6, 7, '0001-01-01', 0, 10, 1, 0, '2025-03-09 14:23:00')`,
  `INSERT INTO carrier (CarrierNum, CarrierName, ElectID, SecDateTEdit) VALUES (20, 'Delta Dental of New Jersey', '22189', '2024-12-01 10:00:00')`,
  `INSERT INTO insplan (PlanNum, GroupName, GroupNum, CarrierNum, IsMedical, SecDateTEdit)
   VALUES (30, 'Acme Corp', 'G-12345', 20, 0, '2024-12-01 10:00:00')`,
  `INSERT INTO inssub (InsSubNum, PlanNum, Subscriber, DateEffective, DateTerm, SubscriberID, SecDateTEdit)
   VALUES (40, 30, 1040, '2024-01-01', '0001-01-01', 'XYZ123456', '2024-12-01 10:00:00')`,
  `INSERT INTO patplan (PatPlanNum, PatNum, Ordinal, Relationship, InsSubNum, SecDateTEdit)
   VALUES (50, 1042, 1, 2, 40, '2024-12-02 11:00:00')`,
];

function conditionSql(alias: string, condition: RowCondition | undefined, params: unknown[]): string[] {
  return Object.entries(condition ?? {}).map(([column, expected]) => {
    if (typeof expected !== 'object') {
      params.push(expected);
      return `${alias}.\`${column}\` = ?`;
    }
    const list = 'in' in expected ? expected.in : expected.notIn;
    params.push(list);
    return `${alias}.\`${column}\` ${'in' in expected ? 'IN' : 'NOT IN'} (?)`;
  });
}

describe('Open Dental mappings on rows of the real 24.3 schema', () => {
  let db: FixtureDatabase;

  beforeAll(async () => {
    db = await createFixtureDatabase('map');
    for (const statement of SEED) await db.connection.query(statement);
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** Reads rows of a stream the way the engine does: declared columns, joins as `alias.Column`, `where`. */
  async function read(stream: string, keys: readonly (string | number)[]) {
    const table = openDental.streams[stream] as TableDefinition;
    const select = Object.keys(table.columns).map((c) => `m.\`${c}\` AS \`${c}\``);
    const from = [`\`${table.table}\` m`];
    for (const join of table.joins ?? []) {
      select.push(
        ...Object.keys(join.columns).map((c) => `${join.alias}.\`${c}\` AS \`${join.alias}.${c}\``),
      );
      const on = Object.entries(join.on).map(([joined, owner]) => {
        const [ownerAlias, ownerColumn] = owner.includes('.') ? owner.split('.') : ['m', owner];
        return `${join.alias}.\`${joined}\` = ${ownerAlias}.\`${ownerColumn}\``;
      });
      from.push(`LEFT JOIN \`${join.table}\` ${join.alias} ON ${on.join(' AND ')}`);
    }
    const params: unknown[] = [];
    const where = [...conditionSql('m', table.where, params), `m.\`${table.key[0]}\` IN (?)`];
    params.push(keys);
    const [rows] = await db.connection.query<RowDataPacket[]>(
      `SELECT ${select.join(', ')} FROM ${from.join(' ')} WHERE ${where.join(' AND ')} ORDER BY m.\`${table.key[0]}\``,
      params,
    );
    return { table, rows };
  }

  async function mapOne(stream: string, key: string | number, context = ctx) {
    const { table, rows } = await read(stream, [key]);
    expect(rows).toHaveLength(1);
    return mapRow(table, rows[0]!, context, SYNCED_AT);
  }

  it('maps a patient: names, E.164 phones in rank order, guarantor, default office, chart number', async () => {
    expect(resourceOf(await mapOne('patients', 1042))).toEqual(
      live(
        {
          resourceType: 'Patient',
          id: id('Patient', '1042'),
          sourceId: '1042',
          name: { family: 'Rivera', given: ['Ana', 'Maria'], prefix: ['Ms.'] },
          preferredName: 'Annie',
          birthDate: '1987-04-12',
          gender: 'female',
          language: { system: 'urn:ietf:bcp:47', code: 'es' },
          telecom: [
            { system: 'phone', value: '+15555550142', use: 'mobile', rank: 1 },
            { system: 'phone', value: '+15555550100', use: 'home', rank: 2 },
            { system: 'email', value: 'ana.rivera@example.com', rank: 3 },
          ],
          addresses: [
            {
              use: 'home',
              line: ['12 Elm St', 'Apt 4'],
              city: 'Springfield',
              state: 'NJ',
              postalCode: '07081',
            },
          ],
          deceased: false,
          primaryPractitionerId: id('Practitioner', '7'),
          primaryLocationId: id('Location', '0'),
          guarantorId: resourceId('smile-dental-main', 'Patient', '1040'),
          identifiers: [{ system: 'urn:tendril:open-dental:chart-number', value: 'A1042', type: 'MR' }],
          active: true,
          sourceStatus: { system: 'urn:tendril:open-dental:pat-status', code: '0', display: 'Patient' },
        },
        '2025-03-01T17:00:00Z',
      ),
    );
  });

  it('maps PatStatus 4 as a soft delete', async () => {
    expect(await mapOne('patients', 1043)).toEqual({ kind: 'deleted', sourceId: '1043' });
  });

  it('omits a 0001-01-01 birth date and keeps a custom language as a vendor coding', async () => {
    expect(resourceOf(await mapOne('patients', 1044))).toEqual(
      live(
        {
          resourceType: 'Patient',
          id: id('Patient', '1044'),
          sourceId: '1044',
          name: { family: 'Okafor', given: ['James'] },
          gender: 'unknown',
          language: { system: 'urn:tendril:open-dental:language', code: 'Tahitian' },
          deceased: true,
          deceasedDate: '2024-11-02',
          primaryPractitionerId: id('Practitioner', '7'),
          primaryLocationId: id('Location', '2'),
          guarantorId: id('Patient', '1044'),
          active: false,
          sourceStatus: { system: 'urn:tendril:open-dental:pat-status', code: '5', display: 'Deceased' },
        },
        '2025-03-02T08:30:00Z',
      ),
    );
  });

  it('maps a provider with NPI, licence and per-site specialty', async () => {
    expect(resourceOf(await mapOne('practitioners', 7))).toEqual(
      live(
        {
          resourceType: 'Practitioner',
          id: id('Practitioner', '7'),
          sourceId: '7',
          name: { family: 'Chen', given: ['Sarah', 'L'], suffix: ['DDS'] },
          identifiers: [
            { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893', type: 'NPI' },
            { system: 'urn:tendril:open-dental:state-license', value: 'NJ12345' },
          ],
          active: true,
          isHygienist: false,
          specialty: { system: 'urn:tendril:open-dental:smile-dental-main:specialty', code: '301' },
        },
        '2025-01-05T14:00:00Z',
      ),
    );
  });

  it('maps the default office (static row) and a clinic with a Windows time zone', async () => {
    const offices = openDental.streams['offices']!;
    expect(resourceOf(mapRow(offices, DEFAULT_OFFICE_ROW, ctx, SYNCED_AT))).toEqual(
      live({
        resourceType: 'Location',
        id: id('Location', '0'),
        sourceId: '0',
        kind: 'office',
        name: 'Main office',
        timezone: 'America/New_York',
        status: 'active',
      }),
    );
    expect(resourceOf(await mapOne('offices', 2))).toEqual(
      live({
        resourceType: 'Location',
        id: id('Location', '2'),
        sourceId: '2',
        kind: 'office',
        name: 'Portland Smiles',
        address: { line: ['500 SW Morrison St'], city: 'Portland', state: 'OR', postalCode: '97204' },
        telecom: [{ system: 'phone', value: '+15035550100', use: 'work', rank: 1 }],
        timezone: 'America/Los_Angeles',
        status: 'inactive',
      }),
    );
  });

  it('maps an operatory of the default office with the op: prefix', async () => {
    expect(resourceOf(await mapOne('operatories', 3))).toEqual(
      live(
        {
          resourceType: 'Location',
          id: id('Location', 'op:3'),
          sourceId: 'op:3',
          kind: 'operatory',
          name: 'Op 3 - Hygiene',
          partOfId: id('Location', '0'),
          status: 'active',
          bookable: true,
        },
        '2025-01-06T09:00:00Z',
      ),
    );
  });

  it('maps an appointment type with its pattern length', async () => {
    expect(resourceOf(await mapOne('appointment-types', 2))).toEqual(
      live({
        resourceType: 'AppointmentType',
        id: id('AppointmentType', '2'),
        sourceId: '2',
        name: 'Crown prep',
        durationMinutes: 90,
        coding: {
          system: 'urn:tendril:open-dental:smile-dental-main:appointment-type',
          code: '2',
          display: 'Crown prep',
        },
        active: true,
      }),
    );
  });

  it('maps an arrived appointment on the first day of DST: XX//XX is 30 minutes, local times to UTC', async () => {
    expect(resourceOf(await mapOne('appointments', 501))).toEqual(
      live(
        {
          resourceType: 'Appointment',
          id: id('Appointment', '501'),
          sourceId: '501',
          status: 'arrived',
          sourceStatus: { system: 'urn:tendril:open-dental:apt-status', code: '1', display: 'Scheduled' },
          // 2025-03-09 09:00 EDT (UTC-4); clocks sprang forward at 02:00 that morning.
          start: '2025-03-09T13:00:00Z',
          end: '2025-03-09T13:30:00Z',
          minutesDuration: 30,
          patientId: id('Patient', '1042'),
          practitionerIds: [id('Practitioner', '7'), id('Practitioner', '9')],
          locationId: id('Location', '0'),
          operatoryId: id('Location', 'op:3'),
          appointmentTypeId: id('AppointmentType', '2'),
          checkedInAt: '2025-03-09T12:55:00Z',
          isNewPatient: true,
          note: 'Bring previous x-rays',
          // 2025-02-01 10:30 EST (UTC-5).
          createdAt: '2025-02-01T15:30:00Z',
        },
        '2025-03-09T13:56:00Z',
      ),
    );
  });

  it.each([
    ['cancelled', {}],
    ['cancelled', { brokenAppointmentStatus: 'cancelled' }],
    ['noshow', { brokenAppointmentStatus: 'noshow' }],
  ] as const)(
    'maps a broken appointment the day before DST as %s with options %j',
    async (status, options) => {
      expect(resourceOf(await mapOne('appointments', 502, ctxWith(options)))).toEqual(
        live(
          {
            resourceType: 'Appointment',
            id: id('Appointment', '502'),
            sourceId: '502',
            status,
            sourceStatus: { system: 'urn:tendril:open-dental:apt-status', code: '5', display: 'Broken' },
            // 2025-03-08 09:00 EST (UTC-5).
            start: '2025-03-08T14:00:00Z',
            end: '2025-03-08T14:40:00Z',
            minutesDuration: 40,
            patientId: id('Patient', '1044'),
            practitionerIds: [id('Practitioner', '7')],
            locationId: id('Location', '2'),
            isNewPatient: false,
          },
          '2025-03-08T15:00:00Z',
        ),
      );
    },
  );

  it('treats a planned appointment (AptStatus 6) as absent', async () => {
    expect(await mapOne('appointments', 503)).toEqual({ kind: 'absent', sourceId: '503' });
  });

  it('maps a completed procedure with its CDT code, tooth and surfaces', async () => {
    expect(resourceOf(await mapOne('procedures', 9001))).toEqual(
      live(
        {
          resourceType: 'Procedure',
          id: id('Procedure', '9001'),
          sourceId: '9001',
          status: 'completed',
          code: {
            coding: [{ system: 'http://www.ada.org/cdt', code: 'D2393' }],
            text: 'Resin-based composite - three surfaces, posterior',
          },
          patientId: id('Patient', '1042'),
          appointmentId: id('Appointment', '501'),
          practitionerId: id('Practitioner', '7'),
          locationId: id('Location', '0'),
          performedDate: '2025-03-09',
          tooth: '30',
          surfaces: ['M', 'O', 'D'],
          fee: { value: 185.5, currency: 'USD' },
        },
        '2025-03-09T14:20:00Z',
      ),
    );
  });

  it('maps a planned quadrant procedure without surfaces or performed date', async () => {
    expect(resourceOf(await mapOne('procedures', 9002))).toEqual(
      live(
        {
          resourceType: 'Procedure',
          id: id('Procedure', '9002'),
          sourceId: '9002',
          status: 'preparation',
          code: {
            coding: [{ system: 'http://www.ada.org/cdt', code: 'D4341' }],
            text: 'Periodontal scaling and root planing - four or more teeth per quadrant',
          },
          patientId: id('Patient', '1042'),
          practitionerId: id('Practitioner', '9'),
          locationId: id('Location', '0'),
          fee: { value: 220, currency: 'USD' },
        },
        '2025-03-09T14:21:00Z',
      ),
    );
  });

  it('treats a charted condition as absent and a deleted procedure as deleted', async () => {
    expect(await mapOne('procedures', 9003)).toEqual({ kind: 'absent', sourceId: '9003' });
    expect(await mapOne('procedures', 9004)).toEqual({ kind: 'deleted', sourceId: '9004' });
  });

  it('reads only completed procedures as charges', async () => {
    const { table, rows } = await read('charges', [9001, 9002, 9003, 9004]);
    expect(rows.map((r) => r['ProcNum'])).toEqual(['9001']);
    expect(resourceOf(mapRow(table, rows[0]!, ctx, SYNCED_AT))).toEqual(
      live(
        {
          resourceType: 'ChargeItem',
          id: id('ChargeItem', '9001'),
          sourceId: '9001',
          status: 'billable',
          code: {
            coding: [{ system: 'http://www.ada.org/cdt', code: 'D2393' }],
            text: 'Resin-based composite - three surfaces, posterior',
          },
          patientId: id('Patient', '1042'),
          procedureId: id('Procedure', '9001'),
          practitionerId: id('Practitioner', '7'),
          locationId: id('Location', '0'),
          occurrenceDate: '2025-03-09',
          enteredDate: '2025-03-09',
          quantity: 1,
          unitPrice: { value: 185.5, currency: 'USD' },
          totalPrice: { value: 185.5, currency: 'USD' },
        },
        '2025-03-09T14:20:00Z',
      ),
    );
  });

  it('maps coverage from patplan, inssub, insplan and carrier', async () => {
    expect(resourceOf(await mapOne('coverage', 50))).toEqual(
      live(
        {
          resourceType: 'Coverage',
          id: id('Coverage', '50'),
          sourceId: '50',
          status: 'active',
          type: 'dental',
          beneficiaryId: id('Patient', '1042'),
          subscriberId: 'XYZ123456',
          subscriberPatientId: id('Patient', '1040'),
          relationship: 'child',
          order: 1,
          period: { start: '2024-01-01' },
          payorName: 'Delta Dental of New Jersey',
          payerElectronicId: '22189',
          groupNumber: 'G-12345',
          groupName: 'Acme Corp',
        },
        '2024-12-02T11:00:00Z',
      ),
    );
  });
});
