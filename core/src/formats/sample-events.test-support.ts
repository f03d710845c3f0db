/**
 * Realistic stored events for the format tests: every resource is produced by core's own `mapRow`
 * from a small hand-written table definition, so the formats are tested against what the mapping
 * engine really emits (refs included), not against hand-built objects. Test support only; not
 * exported from the package.
 */
import type { ChangeKind } from '../classify.js';
import { buildEnvelope, type StoredEvent } from '../events.js';
import { TOMBSTONE_HASH } from '../hash.js';
import { resourceId } from '../ids.js';
import { mapRow, mappingContext, tombstone, type Row } from '../mapping.js';
import type { ResourceType } from '../model/index.js';
import { defineTable, type TableDefinition } from '../sdk.js';
import * as t from '../transforms.js';

export const CONNECTION_ID = 'smile-dental-main';
export const CONNECTOR_ID = 'open-dental';
export const SYNCED_AT = '2025-01-20T14:05:00Z';
const ctx = mappingContext({
  connectionId: CONNECTION_ID,
  connectorId: CONNECTOR_ID,
  timezone: 'America/Chicago',
});
const localCursor = { mode: 'timestamp', column: 'DateTStamp', clock: 'db-local' } as const;
const CDC = 'urn:oid:2.16.840.1.113883.6.238';

const RACE_DISPLAY: Record<string, string> = { '2106-3': 'White', '2028-9': 'Asian', '2108-9': 'European' };

let nextSequence = 1714000000000100;

const text = (n: number) => `varchar(${n})`;

export const patientTable = defineTable({
  resourceType: 'Patient',
  table: 'patient',
  key: ['PatNum'],
  columns: {
    PatNum: 'bigint(20)',
    LName: text(100),
    FName: text(100),
    MiddleI: text(100),
    Preferred: text(100),
    Title: text(15),
    Suffix: text(15),
    Birthdate: 'date',
    Gender: 'tinyint(4)',
    SSN: text(100),
    ChartNumber: text(100),
    AccountNum: text(100),
    RaceCode: text(20),
    EthnicityCode: text(20),
    Language: text(100),
    WirelessPhone: text(30),
    HmPhone: text(30),
    WkPhone: text(30),
    Email: text(100),
    Email2: text(100),
    Address: text(100),
    Address2: text(100),
    City: text(100),
    State: text(100),
    Zip: text(100),
    DateOfDeath: 'date',
    PriProv: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    Guarantor: 'bigint(20)',
    PatStatus: 'tinyint(4)',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  deletedWhen: { PatStatus: 4 },
  fields: {
    name: t.humanName({ family: 'LName', given: ['FName', 'MiddleI'], prefix: 'Title', suffix: 'Suffix' }),
    preferredName: t.col('Preferred', t.str()),
    birthDate: t.col('Birthdate', t.date()),
    gender: t.col('Gender', t.lookup({ 0: 'male', 1: 'female', 2: 'unknown', 3: 'other' })),
    identifiers: t.compute(['SSN', 'ChartNumber', 'AccountNum'], ([ssn, chart, account]) => {
      const list = [];
      if (ssn) list.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: String(ssn), type: 'SS' });
      if (chart)
        list.push({
          system: 'urn:tendril:open-dental:smile-dental-main:chart',
          value: String(chart),
          type: 'MR',
        });
      if (account)
        list.push({
          system: 'urn:tendril:open-dental:smile-dental-main:account',
          value: String(account),
          type: 'AN',
        });
      return list;
    }),
    race: t.compute(['RaceCode'], ([code]) =>
      code
        ? [
            { system: CDC, code: String(code), display: RACE_DISPLAY[String(code)] ?? 'Other' },
            { system: 'urn:tendril:open-dental:race', code: String(code) },
          ]
        : undefined,
    ),
    ethnicity: t.compute(['EthnicityCode'], ([code]) =>
      code ? [{ system: CDC, code: String(code), display: 'Not Hispanic or Latino' }] : undefined,
    ),
    language: t.col('Language', t.lookup({ eng: 'en', spa: 'es' }), (v) => ({
      system: 'urn:ietf:bcp:47',
      code: v,
    })),
    telecom: t.contactPoints([
      { column: 'WirelessPhone', system: 'phone', use: 'mobile' },
      { column: 'HmPhone', system: 'phone', use: 'home' },
      { column: 'WkPhone', system: 'phone', use: 'work' },
      { column: 'Email', system: 'email' },
      { column: 'Email2', system: 'email' },
    ]),
    addresses: t.address(
      { line: ['Address', 'Address2'], city: 'City', state: 'State', postalCode: 'Zip', use: 'home' },
      { asList: true },
    ),
    deceased: t.compute(['DateOfDeath'], ([d]) => (t.date()(d, ctx) ? true : false)),
    deceasedDate: t.col('DateOfDeath', t.date()),
    primaryPractitionerId: t.ref('Practitioner', 'PriProv'),
    primaryLocationId: t.ref('Location', 'ClinicNum'),
    guarantorId: t.ref('Patient', 'Guarantor'),
    active: t.col('PatStatus', t.lookup({ 0: true, 1: false, 2: false, 3: false })),
    sourceStatus: t.col(
      'PatStatus',
      t.vendorCoding('patient-status', { 0: 'Patient', 1: 'NonPatient', 2: 'Inactive' }),
    ),
  },
});

/** Ana Maria Rivera, with three phones, two emails, an SSN, a chart and an account number. */
export const patientRow: Row = {
  PatNum: 1042,
  LName: 'Rivera',
  FName: 'Ana',
  MiddleI: 'Maria',
  Preferred: 'Annie',
  Title: 'Ms.',
  Suffix: 'Jr',
  Birthdate: '1987-04-12',
  Gender: 1,
  SSN: '123-45-6789',
  ChartNumber: 'CH-1042',
  AccountNum: 'AC-77',
  RaceCode: '2106-3',
  EthnicityCode: '2186-5',
  Language: 'eng',
  WirelessPhone: '(555) 555-0142',
  HmPhone: '555-555-0100',
  WkPhone: '555.555.0199',
  Email: 'Ana.Rivera@example.com',
  Email2: 'ana@work.example.com',
  Address: '12 Elm St',
  Address2: 'Apt 3',
  City: 'Springfield',
  State: 'IL',
  Zip: '62704',
  DateOfDeath: '0001-01-01',
  PriProv: 7,
  ClinicNum: 1,
  Guarantor: 1040,
  PatStatus: 0,
  DateTStamp: '2025-01-20 08:03:11',
};

export const practitionerTable = defineTable({
  resourceType: 'Practitioner',
  table: 'provider',
  key: ['ProvNum'],
  columns: {
    ProvNum: 'bigint(20)',
    LName: text(100),
    FName: text(100),
    NationalProvID: text(255),
    SSN: text(12),
    IsHidden: 'tinyint(4)',
    Specialty: text(20),
    IsSecondary: 'tinyint(4)',
    Phone: text(30),
    ClinicNum: 'bigint(20)',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  fields: {
    name: t.humanName({ family: 'LName', given: ['FName'] }),
    telecom: t.contactPoints([{ column: 'Phone', system: 'phone', use: 'work' }]),
    identifiers: t.compute(['NationalProvID', 'SSN'], ([npi, tin]) => [
      ...(npi ? [{ system: 'http://hl7.org/fhir/sid/us-npi', value: String(npi), type: 'NPI' }] : []),
      ...(tin ? [{ system: 'urn:oid:2.16.840.1.113883.4.4', value: String(tin), type: 'TAX' }] : []),
    ]),
    active: t.col('IsHidden', t.bool(), t.not()),
    specialty: t.col('Specialty', t.coding('http://nucc.org/provider-taxonomy')),
    isHygienist: t.col('IsSecondary', t.bool()),
    locationIds: t.refs('Location', ['ClinicNum']),
  },
});

export const practitionerRow: Row = {
  ProvNum: 7,
  LName: 'Okafor',
  FName: 'Chidi',
  NationalProvID: '1234567893',
  SSN: '12-3456789',
  IsHidden: 0,
  Specialty: '1223G0001X',
  IsSecondary: 0,
  Phone: '5555550111',
  ClinicNum: 1,
  DateTStamp: '2025-01-19 10:00:00',
};

export const organizationTable = defineTable({
  resourceType: 'Organization',
  table: 'carrier',
  key: ['CarrierNum'],
  columns: {
    CarrierNum: 'bigint(20)',
    Kind: text(10),
    CarrierName: text(255),
    Phone: text(255),
    Address: text(255),
    City: text(255),
    State: text(255),
    Zip: text(255),
    ElectID: text(255),
    IsHidden: 'tinyint(4)',
    SecDateTEdit: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'SecDateTEdit', clock: 'db-local' },
  fields: {
    kind: t.col('Kind', t.str()),
    name: t.col('CarrierName', t.str()),
    telecom: t.contactPoints([{ column: 'Phone', system: 'phone', use: 'work' }]),
    address: t.address({ line: ['Address'], city: 'City', state: 'State', postalCode: 'Zip' }),
    payerElectronicId: t.col('ElectID', t.str()),
    active: t.col('IsHidden', t.bool(), t.not()),
  },
});

export const payerRow: Row = {
  CarrierNum: 31,
  Kind: 'payer',
  CarrierName: 'Delta Dental | IL',
  Phone: '800-555-0199',
  Address: 'PO Box 9',
  City: 'Chicago',
  State: 'IL',
  Zip: '60601',
  ElectID: 'CDIL1',
  IsHidden: 0,
  SecDateTEdit: '2025-01-02 09:00:00',
};

export const practiceRow: Row = {
  ...payerRow,
  CarrierNum: 1,
  Kind: 'practice',
  CarrierName: 'Smile Dental',
  ElectID: null,
};

export const locationTable = defineTable({
  resourceType: 'Location',
  table: 'clinic',
  key: ['ClinicNum'],
  columns: {
    ClinicNum: 'bigint(20)',
    Description: text(255),
    Address: text(255),
    City: text(255),
    State: text(255),
    Zip: text(255),
    Phone: text(255),
    IsHidden: 'tinyint(4)',
    OrgNum: 'bigint(20)',
  },
  cursor: { mode: 'snapshot' },
  constants: { kind: 'office', timezone: 'America/Chicago' },
  fields: {
    name: t.col('Description', t.str()),
    address: t.address({ line: ['Address'], city: 'City', state: 'State', postalCode: 'Zip', use: 'work' }),
    telecom: t.contactPoints([{ column: 'Phone', system: 'phone', use: 'work' }]),
    organizationId: t.ref('Organization', 'OrgNum'),
    status: t.col('IsHidden', t.lookup({ 0: 'active', 1: 'inactive' })),
  },
});

export const officeRow: Row = {
  ClinicNum: 1,
  Description: 'Smile Dental Springfield',
  Address: '400 Main St',
  City: 'Springfield',
  State: 'IL',
  Zip: '62701',
  Phone: '5555550100',
  IsHidden: 0,
  OrgNum: 1,
};

export const operatoryTable = defineTable({
  resourceType: 'Location',
  table: 'operatory',
  key: ['OperatoryNum'],
  sourceIdPrefix: 'op',
  columns: {
    OperatoryNum: 'bigint(20)',
    OpName: text(255),
    ClinicNum: 'bigint(20)',
    IsHidden: 'tinyint(4)',
    SetProspective: 'tinyint(4)',
  },
  cursor: { mode: 'snapshot' },
  constants: { kind: 'operatory' },
  fields: {
    name: t.col('OpName', t.str()),
    partOfId: t.ref('Location', 'ClinicNum'),
    status: t.col('IsHidden', t.lookup({ 0: 'active', 1: 'inactive' })),
    bookable: t.col('SetProspective', t.bool()),
  },
});

export const operatoryRow: Row = {
  OperatoryNum: 3,
  OpName: 'Op 3\\Hyg',
  ClinicNum: 1,
  IsHidden: 0,
  SetProspective: 1,
};

export const appointmentTypeTable = defineTable({
  resourceType: 'AppointmentType',
  table: 'appointmenttype',
  key: ['AppointmentTypeNum'],
  columns: {
    AppointmentTypeNum: 'bigint(20)',
    AppointmentTypeName: text(255),
    Pattern: text(255),
    IsHidden: 'tinyint(4)',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    name: t.col('AppointmentTypeName', t.str()),
    durationMinutes: t.col('Pattern', (v) => String(v).length * 5),
    coding: t.col('AppointmentTypeNum', t.vendorCoding('appointment-type')),
    active: t.col('IsHidden', t.bool(), t.not()),
  },
});

export const appointmentTypeRow: Row = {
  AppointmentTypeNum: 4,
  AppointmentTypeName: 'Recall',
  Pattern: 'XXXXXX',
  IsHidden: 0,
};

export const appointmentTable = defineTable({
  resourceType: 'Appointment',
  table: 'appointment',
  key: ['AptNum'],
  columns: {
    AptNum: 'bigint(20)',
    AptStatus: 'tinyint(4)',
    AptDateTime: 'datetime',
    EndDateTime: 'datetime',
    Minutes: 'int(11)',
    PatNum: 'bigint(20)',
    ProvNum: 'bigint(20)',
    ProvHyg: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    Op: 'bigint(20)',
    AppointmentTypeNum: 'bigint(20)',
    ProcCodes: text(255),
    Confirmed: 'tinyint(4)',
    DateTimeAskedToArrive: 'datetime',
    DateTimeArrived: 'datetime',
    DateTimeDismissed: 'datetime',
    Note: 'text',
    IsNewPatient: 'tinyint(4)',
    SecDateTEntry: 'datetime',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  deletedWhen: { AptStatus: 9 },
  fields: {
    status: t.col('AptStatus', t.lookup({ 1: 'booked', 2: 'fulfilled', 3: 'proposed', 5: 'noshow' })),
    sourceStatus: t.col('AptStatus', t.vendorCoding('appointment-status')),
    start: t.col('AptDateTime', t.localInstant()),
    end: t.col('EndDateTime', t.localInstant()),
    minutesDuration: t.col('Minutes', t.int()),
    patientId: t.ref('Patient', 'PatNum'),
    practitionerIds: t.refs('Practitioner', ['ProvNum', 'ProvHyg']),
    locationId: t.ref('Location', 'ClinicNum'),
    operatoryId: t.ref('Location', 'Op', { prefix: 'op' }),
    appointmentTypeId: t.ref('AppointmentType', 'AppointmentTypeNum'),
    appointmentType: t.col('AppointmentTypeNum', t.nullIf(0), t.vendorCoding('appointment-type')),
    procedures: t.compute(['ProcCodes'], ([codes]) =>
      codes
        ? String(codes)
            .split(',')
            .map((code, i) => ({
              code: { system: 'http://www.ada.org/cdt', code: code.trim() },
              ...(i === 0 ? { tooth: '3', surfaces: ['M', 'O'] } : {}),
            }))
        : undefined,
    ),
    confirmed: t.col('Confirmed', t.bool()),
    confirmedAt: t.col('DateTimeAskedToArrive', t.localInstant()),
    checkedInAt: t.col('DateTimeArrived', t.localInstant()),
    checkedOutAt: t.col('DateTimeDismissed', t.localInstant()),
    note: t.col('Note', t.str()),
    isNewPatient: t.col('IsNewPatient', t.bool()),
    createdAt: t.col('SecDateTEntry', t.localInstant()),
  },
});

/** A booked cleaning with a note that needs every escape of the `flat` format. */
export const appointmentRow: Row = {
  AptNum: 5001,
  AptStatus: 2,
  AptDateTime: '2025-01-20 08:00:00',
  EndDateTime: '2025-01-20 09:00:00',
  Minutes: 60,
  PatNum: 1042,
  ProvNum: 7,
  ProvHyg: 9,
  ClinicNum: 1,
  Op: 3,
  AppointmentTypeNum: 4,
  ProcCodes: 'D1110, D0120',
  Confirmed: 1,
  DateTimeAskedToArrive: '2025-01-19 12:00:00',
  DateTimeArrived: '2025-01-20 07:55:00',
  DateTimeDismissed: '2025-01-20 09:02:00',
  Note: 'C:\\notes|x\r\nline2',
  IsNewPatient: 0,
  SecDateTEntry: '2025-01-02 10:00:00',
  DateTStamp: '2025-01-20 09:03:00',
};

export const encounterTable = defineTable({
  resourceType: 'Encounter',
  table: 'encounter',
  key: ['EncounterNum'],
  columns: {
    EncounterNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    ProvNum: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    AptNum: 'bigint(20)',
    DateStart: 'datetime',
    DateEnd: 'datetime',
    CodeValue: text(30),
    DiseaseNum: 'bigint(20)',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  constants: {
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  },
  fields: {
    type: t.col('CodeValue', t.coding('http://snomed.info/sct'), t.codeableConcept()),
    patientId: t.ref('Patient', 'PatNum'),
    practitionerIds: t.refs('Practitioner', ['ProvNum']),
    locationId: t.ref('Location', 'ClinicNum'),
    appointmentId: t.ref('Appointment', 'AptNum'),
    period: t.compute(['DateStart', 'DateEnd'], ([s, e], c) => {
      const start = t.localInstant()(s, c);
      const end = t.localInstant()(e, c);
      return start ? { start, ...(end ? { end } : {}) } : undefined;
    }),
    reasonCodes: t.compute(['CodeValue'], ([code]) =>
      code
        ? [{ coding: [{ system: 'http://snomed.info/sct', code: String(code) }], text: 'Dental visit' }]
        : undefined,
    ),
    diagnoses: t.compute(['DiseaseNum'], ([n], c) =>
      n ? [{ conditionId: c.refId('Condition', String(n)), rank: 1 }] : undefined,
    ),
  },
});

export const encounterRow: Row = {
  EncounterNum: 70,
  PatNum: 1042,
  ProvNum: 7,
  ClinicNum: 1,
  AptNum: 5001,
  DateStart: '2025-01-20 08:00:00',
  DateEnd: '2025-01-20 09:00:00',
  CodeValue: '34043003',
  DiseaseNum: 88,
  DateTStamp: '2025-01-20 09:05:00',
};

export const conditionTable = defineTable({
  resourceType: 'Condition',
  table: 'disease',
  key: ['DiseaseNum'],
  columns: {
    DiseaseNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    ProbStatus: 'tinyint(4)',
    Icd10: text(20),
    DateStart: 'date',
    DateStop: 'date',
    EncounterNum: 'bigint(20)',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  constants: { verificationStatus: 'confirmed', category: 'problem-list-item' },
  fields: {
    clinicalStatus: t.col('ProbStatus', t.lookup({ 0: 'active', 1: 'resolved', 2: 'inactive' })),
    code: t.col('Icd10', t.coding('http://hl7.org/fhir/sid/icd-10-cm'), t.codeableConcept()),
    patientId: t.ref('Patient', 'PatNum'),
    encounterId: t.ref('Encounter', 'EncounterNum'),
    onsetDate: t.col('DateStart', t.date()),
    abatementDate: t.col('DateStop', t.date()),
    recordedDate: t.col('DateStart', t.date()),
  },
});

export const conditionRow: Row = {
  DiseaseNum: 88,
  PatNum: 1042,
  ProbStatus: 1,
  Icd10: 'K02.52',
  DateStart: '2024-11-01',
  DateStop: '2025-01-20',
  EncounterNum: 70,
  DateTStamp: '2025-01-20 09:05:00',
};

export const procedureTable = defineTable({
  resourceType: 'Procedure',
  table: 'procedurelog',
  key: ['ProcNum'],
  columns: {
    ProcNum: 'bigint(20)',
    ProcStatus: 'tinyint(4)',
    ProcCode: text(15),
    PatNum: 'bigint(20)',
    AptNum: 'bigint(20)',
    ProvNum: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    ProcDate: 'date',
    ToothNum: text(10),
    Surf: text(10),
    ProcFee: 'double',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  fields: {
    status: t.col('ProcStatus', t.lookup({ 1: 'preparation', 2: 'completed', 6: 'entered-in-error' })),
    code: t.col('ProcCode', t.coding('http://www.ada.org/cdt'), t.codeableConcept()),
    patientId: t.ref('Patient', 'PatNum'),
    appointmentId: t.ref('Appointment', 'AptNum'),
    practitionerId: t.ref('Practitioner', 'ProvNum'),
    locationId: t.ref('Location', 'ClinicNum'),
    performedDate: t.col('ProcDate', t.date()),
    tooth: t.col('ToothNum', t.str()),
    surfaces: t.col('Surf', t.str(), (v) => String(v).split('')),
    fee: t.col('ProcFee', t.money.dollars()),
  },
});

export const procedureRow: Row = {
  ProcNum: 9001,
  ProcStatus: 2,
  ProcCode: 'D2392',
  PatNum: 1042,
  AptNum: 5001,
  ProvNum: 7,
  ClinicNum: 1,
  ProcDate: '2025-01-20',
  ToothNum: '3',
  Surf: 'MOD',
  ProcFee: 185,
  DateTStamp: '2025-01-20 09:05:00',
};

export const chargeTable = defineTable({
  resourceType: 'ChargeItem',
  table: 'procedurelog',
  key: ['ProcNum'],
  columns: {
    ProcNum: 'bigint(20)',
    ProcCode: text(15),
    PatNum: 'bigint(20)',
    ProvNum: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    ProcDate: 'date',
    DateEntryC: 'date',
    UnitQty: 'int(11)',
    ProcFee: 'double',
    Guarantor: 'bigint(20)',
    DiseaseNum: 'bigint(20)',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  sourceIdPrefix: 'charge',
  constants: { status: 'billed' },
  fields: {
    code: t.col('ProcCode', t.coding('http://www.ada.org/cdt'), t.codeableConcept()),
    patientId: t.ref('Patient', 'PatNum'),
    procedureId: t.ref('Procedure', 'ProcNum'),
    practitionerId: t.ref('Practitioner', 'ProvNum'),
    locationId: t.ref('Location', 'ClinicNum'),
    occurrenceDate: t.col('ProcDate', t.date()),
    enteredDate: t.col('DateEntryC', t.date()),
    quantity: t.col('UnitQty', t.int()),
    unitPrice: t.col('ProcFee', t.money.dollars()),
    totalPrice: t.compute(['ProcFee', 'UnitQty'], ([fee, qty], c) =>
      t.money.dollars()(Number(fee) * Number(qty), c),
    ),
    diagnosisIds: t.refs('Condition', ['DiseaseNum']),
    guarantorId: t.ref('Patient', 'Guarantor'),
  },
});

export const chargeRow: Row = {
  ProcNum: 9001,
  ProcCode: 'D2392',
  PatNum: 1042,
  ProvNum: 7,
  ClinicNum: 1,
  ProcDate: '2025-01-20',
  DateEntryC: '2025-01-20',
  UnitQty: 2,
  ProcFee: 92.5,
  Guarantor: 1040,
  DiseaseNum: 88,
  DateTStamp: '2025-01-20 09:05:00',
};

export const coverageTable = defineTable({
  resourceType: 'Coverage',
  table: 'patplan',
  key: ['PatPlanNum'],
  columns: {
    PatPlanNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    SubscriberID: text(255),
    Subscriber: 'bigint(20)',
    Relationship: 'tinyint(4)',
    Ordinal: 'tinyint(4)',
    DateEffective: 'date',
    DateTerm: 'date',
    CarrierNum: 'bigint(20)',
    CarrierName: text(255),
    GroupNum: text(25),
    GroupName: text(50),
    PlanNote: text(50),
    ElectID: text(20),
    SecDateTEdit: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'SecDateTEdit', clock: 'db-local' },
  constants: { status: 'active', type: 'dental' },
  fields: {
    beneficiaryId: t.ref('Patient', 'PatNum'),
    subscriberId: t.col('SubscriberID', t.str()),
    subscriberPatientId: t.ref('Patient', 'Subscriber'),
    relationship: t.col('Relationship', t.lookup({ 0: 'self', 1: 'spouse', 2: 'child' }, 'other')),
    order: t.col('Ordinal', t.int()),
    period: t.compute(['DateEffective', 'DateTerm'], ([s, e]) => {
      const start = t.date()(s, ctx);
      const end = t.date()(e, ctx);
      return start || end ? { ...(start ? { start } : {}), ...(end ? { end } : {}) } : undefined;
    }),
    payorId: t.ref('Organization', 'CarrierNum'),
    payorName: t.col('CarrierName', t.str()),
    groupNumber: t.col('GroupNum', t.str()),
    groupName: t.col('GroupName', t.str()),
    planName: t.col('PlanNote', t.str()),
    payerElectronicId: t.col('ElectID', t.str()),
  },
});

export const coverageRow: Row = {
  PatPlanNum: 601,
  PatNum: 1042,
  SubscriberID: 'XZ123456',
  Subscriber: 1040,
  Relationship: 2,
  Ordinal: 1,
  DateEffective: '2024-01-01',
  DateTerm: '0000-00-00',
  CarrierNum: 31,
  CarrierName: 'Delta Dental | IL',
  GroupNum: 'G-100',
  GroupName: 'Acme Corp',
  PlanNote: 'PPO Plus',
  ElectID: 'CDIL1',
  SecDateTEdit: '2025-01-02 09:00:00',
};

/** A ledger credit line: an insurance payment in cents, as Dentrix Enterprise keeps them. */
export const paymentTable = defineTable({
  resourceType: 'Payment',
  table: 'ledger',
  key: ['LineNum'],
  columns: {
    LineNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    Guarantor: 'bigint(20)',
    ProvNum: 'bigint(20)',
    ClinicNum: 'bigint(20)',
    Class: 'int(11)',
    PayDate: 'date',
    EntryDate: 'date',
    AmountCents: 'int(11)',
    DateTStamp: 'timestamp',
  },
  cursor: localCursor,
  constants: { status: 'active' },
  fields: {
    payerType: t.col('Class', t.lookup({ 1: 'patient', 3: 'insurance' })),
    patientId: t.ref('Patient', 'PatNum'),
    guarantorId: t.ref('Patient', 'Guarantor'),
    practitionerId: t.ref('Practitioner', 'ProvNum'),
    locationId: t.ref('Location', 'ClinicNum'),
    date: t.col('PayDate', t.date()),
    enteredDate: t.col('EntryDate', t.date()),
    amount: t.col('AmountCents', t.money.cents()),
    sourceType: t.col('Class', t.vendorCoding('ledger-class')),
  },
});

export const paymentRow: Row = {
  LineNum: 7001,
  PatNum: 1042,
  Guarantor: 1040,
  ProvNum: 7,
  ClinicNum: 1,
  Class: 3,
  PayDate: '2025-01-22',
  EntryDate: '2025-01-23',
  AmountCents: 8450,
  DateTStamp: '2025-01-23 10:00:00',
};

/** A live event exactly as the sync engine would store it for a mapped row. */
export function liveEvent(
  table: TableDefinition,
  row: Row,
  kind: Exclude<ChangeKind, 'deleted'> = 'created',
): StoredEvent {
  const mapped = mapRow(table, row, ctx, SYNCED_AT);
  if (mapped.kind !== 'live') throw new Error(`sample row of ${table.table} did not map to a live resource`);
  const envelope = buildEnvelope({
    connectionId: CONNECTION_ID,
    resourceType: table.resourceType,
    resourceId: mapped.resource.id,
    sourceId: mapped.sourceId,
    kind,
    hash: mapped.hash,
    sequence: nextSequence++,
    data: mapped.resource,
  });
  return { envelope, kind, sourceId: mapped.sourceId, connectorId: CONNECTOR_ID, refs: mapped.refs };
}

/** A `deleted` event carrying the tombstone, as the sync engine stores it. */
export function deletedEvent(resourceType: ResourceType, sourceId: string): StoredEvent {
  const data = tombstone(
    resourceType,
    sourceId,
    { connectionId: CONNECTION_ID, connectorId: CONNECTOR_ID },
    SYNCED_AT,
  );
  const envelope = buildEnvelope({
    connectionId: CONNECTION_ID,
    resourceType,
    resourceId: resourceId(CONNECTION_ID, resourceType, sourceId),
    sourceId,
    kind: 'deleted',
    hash: TOMBSTONE_HASH,
    sequence: nextSequence++,
    data,
  });
  return { envelope, kind: 'deleted', sourceId, connectorId: CONNECTOR_ID, refs: {} };
}

/** One live event of every resource type, with the variants the FHIR invariants care about. */
export function everyResourceEvent(): StoredEvent[] {
  return [
    liveEvent(patientTable, patientRow),
    liveEvent(
      patientTable,
      { ...patientRow, PatNum: 1043, DateOfDeath: '2024-12-31', Gender: 3, RaceCode: '2108-9' },
      'updated',
    ),
    liveEvent(practitionerTable, practitionerRow),
    liveEvent(organizationTable, payerRow),
    liveEvent(organizationTable, practiceRow),
    liveEvent(locationTable, officeRow),
    liveEvent(operatoryTable, operatoryRow),
    liveEvent(appointmentTypeTable, appointmentTypeRow),
    liveEvent(appointmentTable, appointmentRow),
    // start + duration only: the `fhir` end is derived; hygienist-free, no type.
    liveEvent(appointmentTable, {
      ...appointmentRow,
      AptNum: 5002,
      AptStatus: 1,
      EndDateTime: null,
      ProvHyg: 0,
      AppointmentTypeNum: 0,
    }),
    // proposed without a time and without any participant.
    liveEvent(appointmentTable, {
      ...appointmentRow,
      AptNum: 5003,
      AptStatus: 3,
      AptDateTime: null,
      EndDateTime: null,
      PatNum: 0,
      ProvNum: 0,
      ProvHyg: 0,
      ClinicNum: 0,
      Op: 0,
    }),
    liveEvent(encounterTable, encounterRow),
    liveEvent(conditionTable, conditionRow),
    // still active but with a stop date: con-4 forbids abatement[x] here.
    liveEvent(conditionTable, { ...conditionRow, DiseaseNum: 89, ProbStatus: 0 }),
    liveEvent(procedureTable, procedureRow),
    liveEvent(chargeTable, chargeRow),
    liveEvent(coverageTable, coverageRow),
    // payer known only by name, then not at all.
    liveEvent(coverageTable, { ...coverageRow, PatPlanNum: 602, CarrierNum: 0 }),
    liveEvent(coverageTable, {
      ...coverageRow,
      PatPlanNum: 603,
      CarrierNum: 0,
      CarrierName: '',
      Relationship: 0,
    }),
    liveEvent(paymentTable, paymentRow),
    // a patient payment without dates: R4's required dates are marked absent, never invented.
    liveEvent(paymentTable, { ...paymentRow, LineNum: 7002, Class: 1, PayDate: null, EntryDate: null }),
  ];
}
