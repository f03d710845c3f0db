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
                             PatientDeathDate, SS, DDB_LAST_MOD, HOMEPHONEEXT, WORKEMAIL, Race, EthnicityID, EntryDateTime,
                             PRINSUREDID, PRINSUREDDB, SCINSUREDID, SCINSUREDDB)
   VALUES (12345, 1, 12340, 12340, 1, 0, 0, 0, 0, 0, 0, 0, 7, 1, 'Nguyen', 'Linh', 'Thi', 'T', 'Lily', 'Ms.', '', 'NGU001', 1,
           '1988-07-04 00:00:00.000', 'Linh.Nguyen@Example.com', '512-555-0150', '(512) 555-0151 x12', '5125550152', 3,
           NULL, '123-45-6789', '2025-03-01 10:15:30.123', '7', 'linh@work.example', 2, 1, '2019-05-01 09:00:00.000',
           70, 1, 0, 0),
          (12346, 2, 12346, 12346, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'Okafor', 'James', NULL, 'K', NULL, NULL, 'Jr', '', 2,
           '1753-01-01 00:00:00.000', NULL, NULL, NULL, NULL, NULL, '2024-11-02 00:00:00.000', NULL, '2025-03-02 08:30:00.007',
           NULL, NULL, 0, 9, NULL, NULL, NULL, 71, 1)`,
  // Definitions: the same DEFID in several lists; the constant TYPE of each join picks the right one.
  `INSERT INTO DDB_DEF_TEXT (DEFID, TYPE, DESCRIPTION)
   VALUES (2, 100, 'Asian'), (3, 100, 'Other Race'), (3, 101, 'Vietnamese'), (2, 101, 'Spanish'),
          (1, 115, 'Not Hispanic or Latino'), (9, 7, 'Confirmed')`,
  // A second resource with clinic 1's URSCID in another database: the clinic join's RSCTYPE 0 keeps it out.
  `INSERT INTO DDB_RSC_BASE (URSCID, RSCDB, RSCID, RSCTYPE, NAME_LAST, ActiveFlag, ${RSC_NOT_NULL})
   VALUES (1, 2, 'DRX', 1, 'Xu', 1, 0, 0, 0, 0)`,
  `INSERT INTO DDB_PROC_CODE_BASE (PROC_CODEID, PROC_CODEDB, ADACODE, DESCRIPTION, MINLEN, IsActive, PROVID, PROVDB, isDefProv,
                                   MPROVID, MPROVDB, IsRequireUdi, IsRequireAttachment)
   VALUES (11, 1, 'D1110', 'Prophylaxis - adult', 60, 1, 0, 0, 0, 0, 0, 0, 0),
          (12, 1, 'D2740', 'Crown - porcelain/ceramic', 90, 1, 0, 0, 0, 0, 0, 0, 0),
          (14, 1, 'D2392', 'Resin-based composite - two surfaces, posterior', 0, 1, 0, 0, 0, 0, 0, 0, 0),
          (15, 1, 'DENTURE1', 'Denture adjustment (office code)', 20, 0, 0, 0, 0, 0, 0, 0, 0)`,
  `INSERT INTO DDB_APPT_PROCCODE_BASE (APPTPROCID, APPTPROCDB, APPTID, APPTDB, PROCCODEID, PROCCODEDB, PROCCODETYPE, DDB_LAST_MOD)
   VALUES (1, 1, 501, 1, 11, 1, 0, '2025-02-01 10:31:00.000'), (2, 1, 501, 1, 15, 1, 0, '2025-02-01 10:31:00.000'),
          (3, 1, 999, 1, 11, 1, 0, '2025-02-01 10:31:00.000')`,
  `INSERT INTO DDB_PROC_LOG_BASE (PROC_LOGID, PROC_LOGDB, PATID, PATDB, PROVID, PROVDB, GUARID, GUARDB, PROC_CODEID, PROC_CODEDB,
                                  PLDATE, CREATEDATE, CHART_STATUS, CLASS, AMOUNT, TOOTH_RANGE_START, TOOTH_RANGE_END, SURF_STRING,
                                  ClinicAppliedTo, CHECKNUM, DDB_LAST_MOD)
   VALUES (9001, 1, 12345, 1, 7, 1, 12340, 1, 14, 1, '2025-03-09 00:00:00.000', '2025-03-09 12:00:00.000', 102, 0, 18500, 30, 30,
           'mo', 1, NULL, '2025-03-09 12:00:00.000'),
          (9002, 1, 12345, 1, 7, 1, 12340, 1, 12, 1, '2025-03-09 00:00:00.000', '2025-03-09 12:05:00.000', 102, 0, 125000, 3, 5,
           '0101', 0, NULL, NULL),
          (9003, 1, 12345, 1, 7, 1, 12340, 1, 0, 0, '2025-03-12 00:00:00.000', '2025-03-12 16:00:00.000', 90, 3, 8450, 0, 0,
           NULL, 1, '004417', '2025-03-12 16:00:00.000'),
          (9004, 1, 12346, 2, 0, 0, 12346, 2, 0, 0, '2025-03-13 00:00:00.000', '2025-03-13 09:00:00.000', 90, 1, 2000, 0, 0,
           NULL, 1, '1201', '2025-03-13 09:00:00.000'),
          (9005, 1, 12346, 2, 0, 0, 12346, 2, 0, 0, '2025-03-13 00:00:00.000', '2025-03-13 09:01:00.000', 90, 2, -500, 0, 0,
           NULL, 1, NULL, '2025-03-13 09:01:00.000'),
          (9006, 1, 12345, 1, 7, 1, 12340, 1, 99, 1, '2025-03-10 00:00:00.000', '2025-03-10 08:00:00.000', 102, 0, 4000, 0, 0,
           NULL, 1, NULL, '2025-03-10 08:00:00.000')`,
  `INSERT INTO DDB_INSURANCE_BASE (INSID, INSDB, INSCONAME) VALUES (50, 1, 'Delta Dental of Texas'), (51, 1, 'Cigna Dental')`,
  `INSERT INTO DDB_INSURED_BASE (INSUREDID, INSUREDDB, INSID, INSDB, IDNUM, IDNUM2, EffectiveDate, ExpirationDate)
   VALUES (70, 1, 50, 1, 'DD123456', 'G-778', '2024-01-01 00:00:00.000', '1753-03-02 00:00:00.000'),
          (71, 1, 51, 1, ' CG-99 ', '', '2023-06-01 00:00:00.000', '2025-12-31 00:00:00.000')`,
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
            { system: 'phone', value: '+15125550150', use: 'home', rank: 1, ext: '7' },
            { system: 'phone', value: '+15125550152', rank: 2 },
            { system: 'email', value: 'linh.nguyen@example.com', rank: 3 },
            { system: 'email', value: 'linh@work.example', use: 'work', rank: 4 },
          ],
          // Definitions through DDB_DEF_TEXT: one join per list, each with its constant TYPE.
          language: {
            system: 'urn:tendril:dentrix-enterprise:dxe-main:language',
            code: '3',
            display: 'Vietnamese',
          },
          race: [{ system: 'urn:tendril:dentrix-enterprise:dxe-main:race', code: '2', display: 'Asian' }],
          ethnicity: [
            {
              system: 'urn:tendril:dentrix-enterprise:dxe-main:ethnicity',
              code: '1',
              display: 'Not Hispanic or Latino',
            },
          ],
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
    // Race 0 is none; an ethnicity code with no definition row keeps its code without a display.
    expect(second['race']).toBeUndefined();
    expect(second['ethnicity']).toEqual([
      { system: 'urn:tendril:dentrix-enterprise:dxe-main:ethnicity', code: '9' },
    ]);
    expect(second['language']).toBeUndefined();
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

  it('appointment-types: procedure codes, CDT by prefix and shape, the site system for office codes', async () => {
    const [prophy, , , office] = await read('appointment-types', [
      ['11', '1'],
      ['12', '1'],
      ['14', '1'],
      ['15', '1'],
    ]);
    expect(resourceOf(prophy!)).toEqual(
      live({
        resourceType: 'AppointmentType',
        id: id('AppointmentType', '11:1'),
        sourceId: '11:1',
        name: 'Prophylaxis - adult',
        durationMinutes: 60,
        coding: { system: 'http://www.ada.org/cdt', code: 'D1110', display: 'Prophylaxis - adult' },
        active: true,
      }),
    );
    expect(resourceOf(office!)).toMatchObject({
      coding: { system: 'urn:tendril:dentrix-enterprise:dxe-main:procedure-code', code: 'DENTURE1' },
      active: false,
    });
  });

  it('appointment-procedures: the codes booked on an appointment, as planned procedures of its patient', async () => {
    const mapped = await read('appointment-procedures', [
      ['1', '1'],
      ['2', '1'],
      ['3', '1'],
    ]);
    expect(mapped).toHaveLength(2); // row 3's appointment does not exist
    expect(resourceOf(mapped[0]!)).toEqual(
      live(
        {
          resourceType: 'Procedure',
          id: id('Procedure', 'appt:1:1'),
          sourceId: 'appt:1:1',
          status: 'preparation',
          code: {
            coding: [{ system: 'http://www.ada.org/cdt', code: 'D1110' }],
            text: 'Prophylaxis - adult',
          },
          patientId: id('Patient', '12345:1'),
          appointmentId: id('Appointment', '501:1'),
        },
        '2025-02-01T16:31:00Z',
      ),
    );
    expect(resourceOf(mapped[1]!)!['code']).toEqual({
      coding: [{ system: 'urn:tendril:dentrix-enterprise:dxe-main:procedure-code', code: 'DENTURE1' }],
      text: 'Denture adjustment (office code)',
    });
  });

  it('procedures: CHART_STATUS 102, code from DDB_PROC_CODE_BASE, cents, one tooth, surface letters, the clinic', async () => {
    const mapped = await read('procedures', [
      ['9001', '1'],
      ['9002', '1'],
      ['9003', '1'],
      ['9006', '1'],
    ]);
    expect(mapped).toHaveLength(3); // 9003 is a ledger line
    expect(resourceOf(mapped[0]!)).toEqual(
      live(
        {
          resourceType: 'Procedure',
          id: id('Procedure', '9001:1'),
          sourceId: '9001:1',
          status: 'completed',
          code: {
            coding: [{ system: 'http://www.ada.org/cdt', code: 'D2392' }],
            text: 'Resin-based composite - two surfaces, posterior',
          },
          patientId: id('Patient', '12345:1'),
          practitionerId: id('Practitioner', '7:1'),
          locationId: id('Location', '1:1'),
          performedDate: '2025-03-09',
          tooth: '30',
          surfaces: ['M', 'O'],
          fee: { value: 185, currency: 'USD' },
        },
        '2025-03-09T17:00:00Z',
      ),
    );
    // A range of teeth and a surface string of another shape are left out; no clinic (0); the
    // stamp is NULL, so the creation time stands in (fallback cursor).
    const bridge = resourceOf(mapped[1]!)!;
    expect(bridge).toMatchObject({ fee: { value: 1250, currency: 'USD' }, performedDate: '2025-03-09' });
    expect(bridge).not.toHaveProperty('tooth');
    expect(bridge).not.toHaveProperty('surfaces');
    expect(bridge).not.toHaveProperty('locationId');
    expect(bridge['meta']).toMatchObject({ sourceUpdatedAt: '2025-03-09T17:05:00Z' });
    // A procedure whose code row is missing is still a procedure, without a code.
    expect(resourceOf(mapped[2]!)).not.toHaveProperty('code');
  });

  it('charges: each completed procedure as a billable ledger charge in cents; no code, no charge', async () => {
    const mapped = await read('charges', [
      ['9001', '1'],
      ['9003', '1'],
      ['9006', '1'],
    ]);
    expect(mapped).toHaveLength(1);
    expect(resourceOf(mapped[0]!)).toEqual(
      live(
        {
          resourceType: 'ChargeItem',
          id: id('ChargeItem', '9001:1'),
          sourceId: '9001:1',
          status: 'billable',
          code: {
            coding: [{ system: 'http://www.ada.org/cdt', code: 'D2392' }],
            text: 'Resin-based composite - two surfaces, posterior',
          },
          patientId: id('Patient', '12345:1'),
          procedureId: id('Procedure', '9001:1'),
          practitionerId: id('Practitioner', '7:1'),
          locationId: id('Location', '1:1'),
          guarantorId: id('Patient', '12340:1'),
          occurrenceDate: '2025-03-09',
          enteredDate: '2025-03-09',
          totalPrice: { value: 185, currency: 'USD' },
        },
        '2025-03-09T17:00:00Z',
      ),
    );
  });

  it('payments: ledger lines of CLASS 3 (insurance) and 1 (patient), cents → Money, never the check number', async () => {
    const mapped = await read('payments', [
      ['9003', '1'],
      ['9004', '1'],
      ['9005', '1'],
      ['9001', '1'],
    ]);
    expect(mapped).toHaveLength(2); // 9005 is an adjustment, 9001 a procedure
    expect(resourceOf(mapped[0]!)).toEqual(
      live(
        {
          resourceType: 'Payment',
          id: id('Payment', '9003:1'),
          sourceId: '9003:1',
          status: 'active',
          payerType: 'insurance',
          patientId: id('Patient', '12345:1'),
          guarantorId: id('Patient', '12340:1'),
          practitionerId: id('Practitioner', '7:1'),
          locationId: id('Location', '1:1'),
          date: '2025-03-12',
          enteredDate: '2025-03-12',
          amount: { value: 84.5, currency: 'USD' },
          sourceType: { system: 'urn:tendril:dentrix-enterprise:ledger-class', code: '3' },
        },
        '2025-03-12T21:00:00Z',
      ),
    );
    expect(resourceOf(mapped[1]!)).toMatchObject({
      payerType: 'patient',
      amount: { value: 20, currency: 'USD' },
      patientId: id('Patient', '12346:2'),
    });
    expect(JSON.stringify(mapped)).not.toContain('004417');
    expect(Object.keys(dentrixEnterprise.streams['payments']!.columns)).not.toContain('CHECKNUM');
  });

  it('coverage: the patient → insured → carrier chain, primary and secondary, 1753 as no date', async () => {
    const [primary] = await read('coverage-primary', [
      ['12345', '1'],
      ['12346', '2'],
    ]);
    expect(resourceOf(primary!)).toEqual(
      live(
        {
          resourceType: 'Coverage',
          id: id('Coverage', 'pri:12345:1'),
          sourceId: 'pri:12345:1',
          status: 'active',
          type: 'dental',
          order: 1,
          beneficiaryId: id('Patient', '12345:1'),
          subscriberId: 'DD123456',
          groupNumber: 'G-778',
          period: { start: '2024-01-01' },
          payorName: 'Delta Dental of Texas',
        },
        '2025-03-01T16:15:30.123Z',
      ),
    );
    // 12346 has no primary (NULL): not read by coverage-primary; its secondary is.
    expect(await read('coverage-primary', [['12346', '2']])).toHaveLength(0);
    const [secondary] = await read('coverage-secondary', [
      ['12345', '1'],
      ['12346', '2'],
    ]);
    expect(resourceOf(secondary!)).toMatchObject({
      sourceId: 'sec:12346:2',
      order: 2,
      subscriberId: 'CG-99',
      period: { start: '2023-06-01', end: '2025-12-31' },
      payorName: 'Cigna Dental',
    });
    expect(resourceOf(secondary!)).not.toHaveProperty('groupNumber');
  });
});
