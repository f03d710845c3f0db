import {
  ConnectionConfig,
  mapRow,
  mappingContext,
  resourceHash,
  resourceId,
  type MappedRow,
  type Row,
} from '@tendril/core';
import { createSqlClient, lookupByKeysQuery, snapshotPageQuery, type SqlClient } from '@tendril/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenEmrDatabase, type FixtureDatabase } from './fixture-database.test-support.js';
import { openEmr } from './index.js';

const CONNECTION = 'desert-family-medicine';
const ZONE = 'America/Phoenix';
const SYNCED_AT = '2025-03-10T00:00:00Z';
const ctx = mappingContext({ connectionId: CONNECTION, connectorId: 'openemr', timezone: ZONE, options: {} });
const id = (type: string, sourceId: string) => resourceId(CONNECTION, type, sourceId);

/** The resource a live row must map to: `body` plus the meta the engine derives from it. */
function live(body: Record<string, unknown>, sourceUpdatedAt?: string) {
  return {
    ...body,
    meta: {
      source: { system: 'openemr', connectionId: CONNECTION },
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
 * Golden mappings: rows read through the engine's own queries from OpenEMR's real schema in
 * MariaDB — the fixture's example patients as shipped, plus visit, problem, billing and coverage
 * rows written the way OpenEMR writes them.
 */
describe('OpenEMR mapping on the real schema (golden)', () => {
  let db: FixtureDatabase;
  let sql: SqlClient;

  const read = async (stream: string, key: string): Promise<Row> => {
    const table = openEmr.streams[stream]!;
    const rows = (await sql.execute(lookupByKeysQuery(sql, table, [[key]]))) as Row[];
    expect(rows).toHaveLength(1);
    return rows[0]!;
  };
  const map = async (stream: string, key: string) =>
    mapRow(openEmr.streams[stream]!, await read(stream, key), ctx, SYNCED_AT);

  beforeAll(async () => {
    db = await createOpenEmrDatabase('mapping', { examples: true });
    sql = createSqlClient(
      ConnectionConfig.parse({ id: 'x', connector: 'openemr', timezone: ZONE, database: { url: db.url } })
        .database,
    );
    const q = (text: string) => db.connection.query(text);
    await q(
      "UPDATE patient_data SET last_updated = '2025-03-01 09:30:00', phone_cell = '619-555-0142' WHERE pid = 1",
    );
    await q(`INSERT INTO users (id, username, authorized, title, fname, lname, suffix, npi, facility_id, active, specialty, taxonomy, phonew1, email, state_license_number, last_updated)
             VALUES (7, 'schen', 1, 'Dr.', 'Sarah', 'Chen', 'MD', '1234567893', 3, 1, 'Family Medicine', '207Q00000X', '(480) 555-0100', 'S.Chen@Example.org', 'AZ12345', '2025-01-05 08:00:00'),
                    (8, 'desk', 0, '', 'Front', 'Desk', '', '', 3, 1, '', '207Q00000X', '', '', NULL, '2025-01-05 08:00:00')`);
    await q(`INSERT INTO openemr_postcalendar_events (pc_eid, pc_catid, pc_multiple, pc_aid, pc_pid, pc_title, pc_hometext, pc_eventDate, pc_duration, pc_startTime, pc_endTime, pc_apptstatus, pc_facility)
             VALUES (501, 9, 0, '7', '1', 'Established Patient', 'Bring glucose log', '2025-03-12', 1800, '09:00:00', '09:30:00', 'SMS', 3),
                    (502, 8, 0, '7', '', 'Lunch', '', '2025-03-12', 3600, '12:00:00', '13:00:00', '-', 3)`);
    await q(`INSERT INTO form_encounter (id, date, reason, facility_id, pid, encounter, pc_catid, provider_id, class_code, last_update)
             VALUES (40, '2025-03-12 09:05:00', 'Diabetes follow-up', 3, 1, 1001, 9, 7, 'AMB', '2025-03-12 17:00:00')`);
    await q(`INSERT INTO lists (id, date, type, title, begdate, enddate, diagnosis, activity, pid, verification, modifydate)
             VALUES (60, '2024-06-01 10:00:00', 'medical_problem', 'Type 2 diabetes', '2024-05-20 00:00:00', NULL, 'ICD10:E11.9;SNOMED-CT:44054006', 1, 1, 'confirmed', '2024-06-01 17:00:00'),
                    (61, '2024-06-01 10:00:00', 'medical_problem', 'Sprain', '2024-01-02 00:00:00', '2024-02-01 00:00:00', 'ICD10:S93.401A', 0, 1, '', '2024-06-01 17:00:00')`);
    await q(`INSERT INTO billing (id, date, code_type, code, pid, provider_id, encounter, code_text, billed, activity, units, fee, justify)
             VALUES (70, '2025-03-12 17:30:00', 'CPT4', '99214', 1, 7, 1001, 'Office o/p est mod 30 min', 1, 1, 1, 165.00, 'ICD10:E11.9:'),
                    (71, '2025-03-12 17:30:00', 'CPT4', '36415', 1, 7, 1001, 'Routine venipuncture', 0, 1, 2, 24.00, 'ICD10:E11.9:'),
                    (72, '2025-03-12 17:30:00', 'ICD10', 'E11.9', 1, 7, 1001, '', 0, 1, 1, 0, '')`);
    await q(`INSERT INTO insurance_companies (id, name, cms_id) VALUES (11, 'Aetna', '60054')`);
    await q(`INSERT INTO insurance_data (id, type, provider, plan_name, policy_number, group_number, subscriber_relationship, date, pid, date_end)
             VALUES (80, 'primary', '11', 'PPO Gold', 'W123456789', 'G4400', 'self', '2024-01-01', 1, NULL),
                    (81, 'secondary', '', '', '', '', '', NULL, 1, NULL)`);
  });
  afterAll(async () => {
    await sql?.close();
    await db?.drop();
  });

  it('maps example patient Ted Shaw (pid 1) exactly', async () => {
    expect(resourceOf(await map('patients', '1'))).toEqual(
      live(
        {
          resourceType: 'Patient',
          id: id('Patient', '1'),
          sourceId: '1',
          name: { family: 'Shaw', given: ['Ted'], prefix: ['Mr.'] },
          birthDate: '1947-03-11',
          gender: 'male',
          language: { system: 'urn:ietf:bcp:47', code: 'en' },
          telecom: [
            { system: 'phone', value: '+16195550142', use: 'mobile', rank: 1 },
            { system: 'phone', value: '+16195557568', use: 'home', rank: 2 },
            { system: 'phone', value: '+16195559867', use: 'work', rank: 3 },
            { system: 'email', value: 'info@pennfirm.com', rank: 4 },
          ],
          addresses: [
            { use: 'home', line: ['222 1st Avenue'], city: 'San Diego', state: 'CA', postalCode: '92101' },
          ],
          identifiers: [{ system: 'urn:tendril:openemr:pubpid', value: '24555', type: 'MR' }],
        },
        '2025-03-01T16:30:00Z',
      ),
    );
  });

  it('maps all 14 example patients to valid resources with their MRN and a dangling provider kept as a reference', async () => {
    const rows = (await sql.execute(
      snapshotPageQuery(sql, openEmr.streams['patients']!, { limit: 100 }),
    )) as Row[];
    expect(rows).toHaveLength(14);
    const mapped = rows.map((row) => resourceOf(mapRow(openEmr.streams['patients']!, row, ctx, SYNCED_AT))!);
    expect(mapped.every((p) => (p['identifiers'] as { type: string }[])[0]!.type === 'MR')).toBe(true);
    // Eduardo Perez (pid 4) names provider 4, a user the example data does not create.
    expect(mapped.find((p) => p['sourceId'] === '4')!['primaryPractitionerId']).toBe(id('Practitioner', '4'));
  });

  it('maps an authorized user as a practitioner and leaves front-desk users out', async () => {
    expect(resourceOf(await map('practitioners', '7'))).toEqual(
      live(
        {
          resourceType: 'Practitioner',
          id: id('Practitioner', '7'),
          sourceId: '7',
          name: { family: 'Chen', given: ['Sarah'], prefix: ['Dr.'], suffix: ['MD'] },
          telecom: [
            { system: 'phone', value: '+14805550100', use: 'work', rank: 1 },
            { system: 'email', value: 's.chen@example.org', rank: 2 },
          ],
          identifiers: [
            { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893', type: 'NPI' },
            { system: 'urn:tendril:openemr:state-license', value: 'AZ12345' },
          ],
          active: true,
          specialty: {
            system: 'http://nucc.org/provider-taxonomy',
            code: '207Q00000X',
            display: 'Family Medicine',
          },
          locationIds: [id('Location', '3')],
        },
        '2025-01-05T15:00:00Z',
      ),
    );
    expect(
      await sql.execute(lookupByKeysQuery(sql, openEmr.streams['practitioners']!, [['8']])),
    ).toHaveLength(0);
  });

  it("maps the schema's placeholder facility as an office in the connection's zone", async () => {
    expect(resourceOf(await map('offices', '3'))).toMatchObject({
      kind: 'office',
      name: 'Your Clinic Name Here',
      timezone: ZONE,
      status: 'active',
      bookable: true,
    });
  });

  it('maps an appointment: office-local start and end, status, confirmation, category', async () => {
    expect(resourceOf(await map('appointments', '501'))).toEqual(
      live({
        resourceType: 'Appointment',
        id: id('Appointment', '501'),
        sourceId: '501',
        status: 'booked',
        sourceStatus: { system: `urn:tendril:openemr:${CONNECTION}:apptstat`, code: 'SMS' },
        confirmed: true,
        start: '2025-03-12T16:00:00Z',
        end: '2025-03-12T16:30:00Z',
        minutesDuration: 30,
        patientId: id('Patient', '1'),
        practitionerIds: [id('Practitioner', '7')],
        locationId: id('Location', '3'),
        appointmentType: {
          system: `urn:tendril:openemr:${CONNECTION}:calendar-category`,
          code: '9',
          display: 'Established Patient',
        },
        note: 'Bring glucose log',
      }),
    );
    expect((await map('appointments', '502')).kind).toBe('absent');
  });

  it('maps an encounter with its UTC stamp and office-local period', async () => {
    expect(resourceOf(await map('encounters', '40'))).toEqual(
      live(
        {
          resourceType: 'Encounter',
          id: id('Encounter', '40'),
          sourceId: '40',
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          type: { coding: [{ system: `urn:tendril:openemr:${CONNECTION}:calendar-category`, code: '9' }] },
          patientId: id('Patient', '1'),
          practitionerIds: [id('Practitioner', '7')],
          locationId: id('Location', '3'),
          period: { start: '2025-03-12T16:05:00Z' },
          identifiers: [{ system: 'urn:tendril:openemr:encounter', value: '1001' }],
        },
        '2025-03-12T17:00:00Z',
      ),
    );
  });

  it('maps a problem with ICD-10 and SNOMED codings; activity 0 is a delete', async () => {
    expect(resourceOf(await map('conditions', '60'))).toEqual(
      live(
        {
          resourceType: 'Condition',
          id: id('Condition', '60'),
          sourceId: '60',
          category: 'problem-list-item',
          code: {
            coding: [
              { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'E11.9' },
              { system: 'http://snomed.info/sct', code: '44054006' },
            ],
            text: 'Type 2 diabetes',
          },
          clinicalStatus: 'active',
          verificationStatus: 'confirmed',
          patientId: id('Patient', '1'),
          onsetDate: '2024-05-20',
          recordedDate: '2024-06-01',
        },
        '2024-06-01T17:00:00Z',
      ),
    );
    expect((await map('conditions', '61')).kind).toBe('deleted');
  });

  it('maps billing service lines to a procedure and a charge; diagnosis lines are not read', async () => {
    const code = {
      coding: [{ system: 'http://www.ama-assn.org/go/cpt', code: '36415' }],
      text: 'Routine venipuncture',
    };
    expect(resourceOf(await map('procedures', '71'))).toEqual(
      live({
        resourceType: 'Procedure',
        id: id('Procedure', '71'),
        sourceId: '71',
        status: 'completed',
        code,
        patientId: id('Patient', '1'),
        encounterId: id('Encounter', '40'),
        practitionerId: id('Practitioner', '7'),
        locationId: id('Location', '3'),
        performedDate: '2025-03-12',
        fee: { value: 24, currency: 'USD' },
      }),
    );
    expect(resourceOf(await map('charges', '71'))).toEqual(
      live({
        resourceType: 'ChargeItem',
        id: id('ChargeItem', '71'),
        sourceId: '71',
        status: 'billable',
        code,
        patientId: id('Patient', '1'),
        encounterId: id('Encounter', '40'),
        procedureId: id('Procedure', '71'),
        practitionerId: id('Practitioner', '7'),
        locationId: id('Location', '3'),
        occurrenceDate: '2025-03-12',
        enteredDate: '2025-03-12',
        quantity: 2,
        unitPrice: { value: 12, currency: 'USD' },
        totalPrice: { value: 24, currency: 'USD' },
      }),
    );
    expect(resourceOf(await map('charges', '70'))!['status']).toBe('billed');
    expect(await sql.execute(lookupByKeysQuery(sql, openEmr.streams['procedures']!, [['72']]))).toHaveLength(
      0,
    );
  });

  it('maps coverage with its payer; empty placeholder rows are not coverage', async () => {
    expect(resourceOf(await map('coverage', '80'))).toEqual(
      live({
        resourceType: 'Coverage',
        id: id('Coverage', '80'),
        sourceId: '80',
        status: 'active',
        type: 'medical',
        beneficiaryId: id('Patient', '1'),
        subscriberId: 'W123456789',
        relationship: 'self',
        order: 1,
        period: { start: '2024-01-01' },
        payorName: 'Aetna',
        payerElectronicId: '60054',
        groupNumber: 'G4400',
        planName: 'PPO Gold',
      }),
    );
    expect((await map('coverage', '81')).kind).toBe('absent');
  });
});
