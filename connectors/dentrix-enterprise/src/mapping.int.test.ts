import {
  mapRow,
  mappingContext,
  resourceHash,
  resourceId,
  type MappedRow,
  type TableDefinition,
} from '@tendril/core';
import { createSqlClient, lookupByKeysQuery, type SqlClient } from '@tendril/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureDatabase, type FixtureDatabase } from './fixture-database.test-support.js';
import { dentrixEnterprise, dentrixEnterpriseOptionsSchema } from './index.js';

const CONNECTION = 'dxe-main';
const SYNCED_AT = '2025-03-10T00:00:00Z';
const ctxWith = (options: Record<string, unknown>) =>
  mappingContext({
    connectionId: CONNECTION,
    connectorId: 'dentrix-enterprise',
    timezone: 'America/Chicago',
    options: dentrixEnterpriseOptionsSchema.parse(options),
  });
const ctx = ctxWith({});
const id = (type: string, sourceId: string) => resourceId(CONNECTION, type, sourceId);

/** The resource a live row must map to: `body` plus the meta the engine derives from it. */
function live(body: Record<string, unknown>, sourceUpdatedAt?: string) {
  return {
    ...body,
    meta: {
      source: { system: 'dentrix-enterprise', connectionId: CONNECTION },
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
 * A two-clinic group in Texas (connection zone America/Chicago). Every NOT NULL column is given
 * (the fixture has no defaults). DDB_LAST_MOD and dates are office-local wall times.
 */
const RSC_NOT_NULL = 'IsSetupOnPortal, AllowMessaging, AppRoleID, TimeZoneAbbreviation';
const SEED = [
  `INSERT INTO DDB_RSC_BASE (URSCID, RSCDB, RSCID, RSCTYPE, NAME_LAST, NAME_FIRST, NAME_INITIAL, Suffix, STREET, STREET2, CITY, STATE, ZIP,
                             PHONE, Fax, Email, STATEID, ClinicNPI, ActiveFlag, DDB_LAST_MOD, ${RSC_NOT_NULL})
   VALUES (1, 1, 'AUS', 0, 'Austin Family Dental', NULL, NULL, NULL, '100 Congress Ave', 'Suite 200', 'Austin', 'TX', '78701',
           '512-555-0100', '512.555.0101', NULL, NULL, '1234567893', 1, '2025-01-05 08:00:00.000', 0, 0, 0, 0),
          (2, 1, 'RRK', 0, '', NULL, NULL, NULL, '', '', '', '', '', '', '', NULL, NULL, 'TX-99', 0, '2025-01-05 08:00:00.000', 0, 0, 0, 0),
          (7, 1, 'DRLEE', 1, 'Lee', 'Grace', 'M', 'DDS', NULL, NULL, NULL, NULL, NULL,
           '(512) 555-0142', '', 'G.Lee@Example.com', 'TX-D-20931', NULL, 1, '2025-01-05 08:00:00.000', 0, 0, 0, 0),
          (9, 2, 'HYG1', 1, 'Ortiz', 'Ana', '', 'RDH', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
           '2025-01-05 08:00:00.000', 0, 0, 0, 0),
          (31, 1, 'OP1', 3, 'Hygiene 1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1,
           '2025-01-05 08:00:00.000', 0, 0, 0, 0),
          (32, 1, 'OP2', 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
           '2025-01-05 08:00:00.000', 0, 0, 0, 0),
          (40, 1, 'FRONT', 2, 'Front desk', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1,
           '2025-01-05 08:00:00.000', 0, 0, 0, 0)`,
  `INSERT INTO DDB_PAT_BASE (PATID, PATDB, FAMILYID, GUARID, GUARDB, PATIMAGEID, CommunicationPref, CONFIDENTIAL_STATE, VipCode,
                             SensitivityFlag, DNACode, DoDUpdateAuth, PRPROVID, PRPROVDB, LASTNAME, FIRSTNAME, MiddleName, MI, PREFNAME,
                             TITLE, Suffix, CHART, STATUS, BIRTHDATE, EMAILADDRESS, HOMEPHONE, WKPHONE, OTHERPHONE, Language,
                             PatientDeathDate, SS, DDB_LAST_MOD)
   VALUES (12345, 1, 12340, 12340, 1, 0, 0, 0, 0, 0, 0, 0, 7, 1, 'Nguyen', 'Linh', 'Thi', 'T', 'Lily', 'Ms.', '', 'NGU001', 1,
           '1988-07-04 00:00:00.000', 'Linh.Nguyen@Example.com', '512-555-0150', '(512) 555-0151 x12', '5125550152', 3,
           NULL, '123-45-6789', '2025-03-01 10:15:30.123'),
          (12346, 2, 12346, 12346, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'Okafor', 'James', NULL, 'K', NULL, NULL, 'Jr', '', 2,
           '1753-01-01 00:00:00.000', NULL, NULL, NULL, NULL, NULL, '2024-11-02 00:00:00.000', NULL, '2025-03-02 08:30:00.007')`,
  `INSERT INTO DDB_APPT_BASE (APPTID, APPTDB, PATID, PATDB, OPID, OPDB, PRPROVID, PRPROVDB, SCPROVID, SCPROVDB, APPTDATE, TIME_HOUR,
                              TIME_MINUTE, APPTLEN, APPTREASON, STATUS, APPTTYPE, BROKENREASON, CREATEDATE, DDB_LAST_MOD,
                              ApptStartUTCDateTime, ApptEndUTCDateTime, WasScheduled, WasEnabledForEventsStatus, EStatus)
   VALUES (501, 1, 12345, 1, 31, 1, 7, 1, 9, 2, '2025-03-09 00:00:00.000', 9, 30, 60, 'Prophy, BWX', 150, 4, NULL,
           '2025-02-01 10:30:00.000', '2025-03-09 11:00:00.003', NULL, NULL, 1, 0, 0),
          (502, 1, 12346, 2, 32, 1, 7, 1, 0, 0, '2025-03-08 00:00:00.000', 14, 0, 90, 'Crown prep #3', 100, 2, 'Car trouble',
           '1753-01-01 00:00:00.000', '2025-03-08 15:00:00.000', NULL, NULL, 1, 0, 0),
          (503, 1, 12345, 1, 0, 0, 7, 1, 7, 1, '1753-01-01 00:00:00.000', 0, 0, 30, 'Wait list: sooner', 101, 0, NULL,
           '2025-02-10 12:00:00.000', '2025-02-10 12:00:00.000', '2025-04-01 15:00:00.000', '2025-04-01 15:30:00.000', 1, 0, 0),
          (504, 1, 12345, 1, 31, 1, 7, 1, 0, 0, '2025-03-11 00:00:00.000', 10, 0, 30, '', 7, 1, NULL,
           '2025-02-11 12:00:00.000', '2025-02-11 12:00:00.000', NULL, NULL, 1, 0, 0)`,
];

describe('Dentrix Enterprise mappings on rows of the 11.0 tables (MariaDB form)', () => {
  let db: FixtureDatabase;
  let sql: SqlClient;

  beforeAll(async () => {
    db = await createFixtureDatabase('map');
    for (const statement of SEED) await db.connection.query(statement);
    sql = createSqlClient({ url: db.url });
  });

  afterAll(async () => {
    await sql?.close();
    await db?.drop();
  });

  /** Reads rows the way the engine confirms them: the stream's own point-lookup query (same select list and `where`). */
  async function read(stream: string, keys: readonly (readonly string[])[], context = ctx) {
    const table = dentrixEnterprise.streams[stream] as TableDefinition;
    const rows = await sql.execute(lookupByKeysQuery(sql, table, keys));
    const order = (row: Record<string, unknown>) =>
      keys.findIndex((k) => k.every((v, i) => String(row[table.key[i]!]) === v));
    return rows.sort((a, b) => order(a) - order(b)).map((row) => mapRow(table, row, context, SYNCED_AT));
  }

  it('patients: composite sourceId, names, phones, chart number, 1753 birth date omitted, death date, refs', async () => {
    const [nguyen, okafor] = await read('patients', [
      ['12345', '1'],
      ['12346', '2'],
    ]);
    expect(resourceOf(nguyen!)).toEqual(
      live(
        {
          resourceType: 'Patient',
          id: id('Patient', '12345:1'),
          sourceId: '12345:1',
          name: { family: 'Nguyen', given: ['Linh', 'Thi'], prefix: ['Ms.'] },
          preferredName: 'Lily',
          birthDate: '1988-07-04',
          telecom: [
            { system: 'phone', value: '+15125550150', use: 'home', rank: 1 },
            { system: 'phone', value: '+15125550152', rank: 2 },
            { system: 'email', value: 'linh.nguyen@example.com', rank: 3 },
          ],
          language: { system: 'urn:tendril:dentrix-enterprise:language', code: '3' },
          primaryPractitionerId: id('Practitioner', '7:1'),
          guarantorId: id('Patient', '12340:1'),
          identifiers: [
            { system: 'urn:tendril:dentrix-enterprise:chart-number', value: 'NGU001', type: 'MR' },
          ],
          sourceStatus: { system: 'urn:tendril:dentrix-enterprise:pat-status', code: '1' },
        },
        // DDB_LAST_MOD 10:15:30.123 Chicago (CST, UTC−6).
        '2025-03-01T16:15:30.123Z',
      ),
    );
    const second = resourceOf(okafor!)!;
    expect(second['sourceId']).toBe('12346:2');
    expect(second['birthDate']).toBeUndefined();
    expect(second['deceased']).toBe(true);
    expect(second['deceasedDate']).toBe('2024-11-02');
    expect(second['name']).toEqual({ family: 'Okafor', given: ['James', 'K'], suffix: ['Jr'] });
    expect(second['primaryPractitionerId']).toBeUndefined();
    expect(second['guarantorId']).toBe(id('Patient', '12346:2'));
    // The SSN column is never read.
    expect(JSON.stringify(second)).not.toContain('6789');
    expect(Object.keys(dentrixEnterprise.streams['patients']!.columns)).not.toContain('SS');
  });

  it('practitioners: RSCTYPE 1 only, names, telecom, state id, ActiveFlag', async () => {
    const mapped = await read('practitioners', [
      ['7', '1'],
      ['9', '2'],
      ['1', '1'],
    ]);
    expect(mapped).toHaveLength(2); // the clinic row (RSCTYPE 0) is not a practitioner
    expect(resourceOf(mapped[0]!)).toEqual(
      live({
        resourceType: 'Practitioner',
        id: id('Practitioner', '7:1'),
        sourceId: '7:1',
        name: { family: 'Lee', given: ['Grace', 'M'], suffix: ['DDS'] },
        telecom: [
          { system: 'phone', value: '+15125550142', use: 'work', rank: 1 },
          { system: 'email', value: 'g.lee@example.com', use: 'work', rank: 2 },
        ],
        identifiers: [{ system: 'urn:tendril:dentrix-enterprise:state-id', value: 'TX-D-20931' }],
        active: true,
      }),
    );
    expect(resourceOf(mapped[1]!)).toMatchObject({
      sourceId: '9:2',
      active: false,
      name: { family: 'Ortiz', given: ['Ana'], suffix: ['RDH'] },
    });
  });

  it('offices: RSCTYPE 0, address, NPI, the connection zone, code as fallback name', async () => {
    const mapped = await read('offices', [
      ['1', '1'],
      ['2', '1'],
      ['7', '1'],
    ]);
    expect(mapped).toHaveLength(2);
    expect(resourceOf(mapped[0]!)).toEqual(
      live({
        resourceType: 'Location',
        id: id('Location', '1:1'),
        sourceId: '1:1',
        kind: 'office',
        name: 'Austin Family Dental',
        address: {
          line: ['100 Congress Ave', 'Suite 200'],
          city: 'Austin',
          state: 'TX',
          postalCode: '78701',
        },
        telecom: [
          { system: 'phone', value: '+15125550100', use: 'work', rank: 1 },
          { system: 'fax', value: '+15125550101', use: 'work', rank: 2 },
        ],
        timezone: 'America/Chicago',
        status: 'active',
        identifiers: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893', type: 'NPI' }],
      }),
    );
    expect(resourceOf(mapped[1]!)).toEqual(
      live({
        resourceType: 'Location',
        id: id('Location', '2:1'),
        sourceId: '2:1',
        kind: 'office',
        name: 'RRK',
        timezone: 'America/Chicago',
        status: 'inactive',
        identifiers: [{ system: 'urn:tendril:dentrix-enterprise:clinic-npi', value: 'TX-99' }],
      }),
    );
  });

  it('operatories: RSCTYPE 3 (assumption), name or code, status and bookable from ActiveFlag', async () => {
    const mapped = await read('operatories', [
      ['31', '1'],
      ['32', '1'],
      ['40', '1'],
    ]);
    expect(mapped.map((m) => resourceOf(m))).toEqual([
      live({
        resourceType: 'Location',
        id: id('Location', '31:1'),
        sourceId: '31:1',
        kind: 'operatory',
        name: 'Hygiene 1',
        status: 'active',
        bookable: true,
      }),
      live({
        resourceType: 'Location',
        id: id('Location', '32:1'),
        sourceId: '32:1',
        kind: 'operatory',
        name: 'OP2',
        status: 'inactive',
        bookable: false,
      }),
    ]);
  });

  it('appointments: local date + hour/minute → UTC, APPTLEN, status codes, providers, operatory', async () => {
    const [complete, broken, wait, booked] = await read('appointments', [
      ['501', '1'],
      ['502', '1'],
      ['503', '1'],
      ['504', '1'],
    ]);
    expect(resourceOf(complete!)).toEqual(
      live(
        {
          resourceType: 'Appointment',
          id: id('Appointment', '501:1'),
          sourceId: '501:1',
          status: 'fulfilled',
          sourceStatus: { system: 'urn:tendril:dentrix-enterprise:dxe-main:appt-status', code: '150' },
          // 2025-03-09 09:30 in Chicago is after the DST jump at 02:00: CDT, UTC−5.
          start: '2025-03-09T14:30:00Z',
          end: '2025-03-09T15:30:00Z',
          minutesDuration: 60,
          patientId: id('Patient', '12345:1'),
          practitionerIds: [id('Practitioner', '7:1'), id('Practitioner', '9:2')],
          operatoryId: id('Location', '31:1'),
          appointmentType: { system: 'urn:tendril:dentrix-enterprise:dxe-main:appt-type', code: '4' },
          note: 'Prophy, BWX',
          createdAt: '2025-02-01T16:30:00Z',
        },
        '2025-03-09T16:00:00.003Z',
      ),
    );
    expect(resourceOf(broken!)).toMatchObject({
      status: 'cancelled',
      start: '2025-03-08T20:00:00Z', // CST, UTC−6, the day before the change
      end: '2025-03-08T21:30:00Z',
      cancellationReason: 'Car trouble',
      practitionerIds: [id('Practitioner', '7:1')],
    });
    expect(resourceOf(broken!)!['createdAt']).toBeUndefined();
    expect(
      resourceOf(
        (await read('appointments', [['502', '1']], ctxWith({ brokenAppointmentStatus: 'noshow' })))[0]!,
      )!['status'],
    ).toBe('noshow');
    // No local slot (APPTDATE 1753): the UTC columns stand in; no operatory (OPID 0).
    const waiting = resourceOf(wait!)!;
    expect(waiting).toMatchObject({
      status: 'waitlist',
      start: '2025-04-01T15:00:00Z',
      end: '2025-04-01T15:30:00Z',
      minutesDuration: 30,
    });
    expect(waiting['operatoryId']).toBeUndefined();
    expect(resourceOf(booked!)).toMatchObject({
      status: 'booked',
      sourceStatus: { code: '7' },
      start: '2025-03-11T15:00:00Z',
    });
    expect(resourceOf(booked!)!['note']).toBeUndefined();
  });
});
