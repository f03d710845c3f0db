import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { TendrilError } from '@tendril/core';
import {
  BatchWriter,
  CITIES,
  EMAIL_DOMAINS,
  FEMALE_FIRST_NAMES,
  fixturesDir,
  GENERATOR_DIALECTS,
  type GeneratorDialect,
  InsertSession,
  LAST_NAMES,
  MALE_FIRST_NAMES,
  MIDDLE_INITIALS,
  Random,
  type Seed,
  type SqlValue,
  STREET_NAMES,
  STREET_SUFFIXES,
} from '@tendril/testing';

/** The OpenEMR tables the generator fills, in the order it fills them. */
export const OPENEMR_SEED_TABLES = [
  'facility',
  'users',
  'openemr_postcalendar_categories',
  'insurance_companies',
  'patient_data',
  'insurance_data',
  'openemr_postcalendar_events',
  'form_encounter',
  'billing',
  'lists',
] as const;
export type OpenEmrSeedTable = (typeof OPENEMR_SEED_TABLES)[number];

export interface SeedOpenEmrOptions {
  /** How many patients to add (after any already there, such as the fixture's 14 example patients). */
  readonly patients: number;
  /** Same seed, same `now`, same Synthea presence → identical rows. Default `'tendril'`. */
  readonly seed?: Seed;
  readonly dialect: GeneratorDialect;
  /** Anchor of the calendar (9 months back, 4 months ahead); only its UTC day matters. Default: now. */
  readonly now?: Date;
  readonly onProgress?: (done: number, total: number) => void;
  /** Rows per INSERT statement. Default 1,000. */
  readonly batchSize?: number;
  /**
   * Folder of the Synthea CSV sample (`conditions.csv`), whose SNOMED problems are mixed into the
   * problem lists. Default: `synthea` in the shared fixtures (`fixturesDir()` of @tendril/testing,
   * docs/testing.md, "Fixture schemas"), used only when present; without it built-in ICD-10 problems are used alone.
   * `false` never reads it.
   */
  readonly syntheaDir?: string | false;
}

export interface OpenEmrSeedSummary {
  readonly seed: string;
  readonly patients: number;
  readonly rows: Readonly<Record<OpenEmrSeedTable, number>>;
  readonly missingTables: readonly OpenEmrSeedTable[];
  /** Whether Synthea conditions were found and used. */
  readonly synthea: boolean;
  readonly durationMs: number;
}

const DAY_MS = 86_400_000;

function seedError(message: string, details: Record<string, unknown> = {}): TendrilError {
  return new TendrilError('TENDRIL_E_SEED', message, { details });
}

function dayText(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
function timeText(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00`;
}

/** ICD-10-CM problems common in primary care, used with or without Synthea. */
const ICD10_PROBLEMS: readonly (readonly [code: string, title: string])[] = [
  ['E11.9', 'Type 2 diabetes mellitus without complications'],
  ['I10', 'Essential (primary) hypertension'],
  ['E78.5', 'Hyperlipidemia, unspecified'],
  ['J45.909', 'Unspecified asthma, uncomplicated'],
  ['M54.50', 'Low back pain, unspecified'],
  ['F41.1', 'Generalized anxiety disorder'],
  ['E03.9', 'Hypothyroidism, unspecified'],
  ['K21.9', 'Gastro-esophageal reflux disease without esophagitis'],
  ['J30.9', 'Allergic rhinitis, unspecified'],
  ['F32.A', 'Depression, unspecified'],
];

/** CPT office-visit and in-office service codes with typical fees (dollars). */
const VISIT_CODES: readonly (readonly [code: string, text: string, fee: number])[] = [
  ['99212', 'Office o/p est sf 10 min', 75],
  ['99213', 'Office o/p est low 20 min', 110],
  ['99214', 'Office o/p est mod 30 min', 165],
  ['99203', 'Office o/p new low 30 min', 150],
];
const EXTRA_CODES: readonly (readonly [type: string, code: string, text: string, fee: number])[] = [
  ['CPT4', '36415', 'Routine venipuncture', 12],
  ['CPT4', '81002', 'Urinalysis nonauto w/o scope', 8],
  ['CPT4', '90471', 'Immunization admin', 25],
  ['HCPCS', 'G0444', 'Depression screen annual', 18],
];

const PAYERS: readonly (readonly [name: string, cmsId: string])[] = [
  ['Aetna', '60054'],
  ['Blue Cross Blue Shield', '00590'],
  ['Cigna', '62308'],
  ['Medicare Part B', '00882'],
  ['UnitedHealthcare', '87726'],
];

/** Default calendar categories of database.sql, written only when the table is empty. */
const CATEGORIES: readonly (readonly [id: number, constant: string, name: string, type: number])[] = [
  [5, 'office_visit', 'Office Visit', 0],
  [8, 'lunch', 'Lunch', 1],
  [9, 'established_patient', 'Established Patient', 0],
  [10, 'new_patient', 'New Patient', 0],
];

/** `synthea` in the shared fixtures (the one rule: `fixturesDir()`); none outside a checkout. */
function defaultSyntheaDir(): string | false {
  try {
    return join(fixturesDir(), 'synthea');
  } catch {
    return false;
  }
}

/** SNOMED problems (code, title) from Synthea's `conditions.csv`, or none when it is absent. */
export function syntheaProblems(dir: string | false | undefined): (readonly [code: string, title: string])[] {
  const folder = dir ?? defaultSyntheaDir();
  if (folder === false) return [];
  const file = join(folder, 'conditions.csv');
  if (!existsSync(file)) return [];
  const seen = new Map<string, string>();
  const [header, ...lines] = readFileSync(file, 'utf8').split(/\r?\n/);
  const columns = (header ?? '').split(',');
  const code = columns.indexOf('CODE');
  const description = columns.indexOf('DESCRIPTION');
  if (code < 0 || description < 0) return [];
  for (const line of lines) {
    const fields = line.split(',');
    const snomed = fields[code]?.trim();
    // Synthea marks problems "(disorder)"; "(finding)" rows are mostly social determinants.
    const title = fields[description]?.trim();
    if (!snomed || !title || !title.endsWith('(disorder)') || seen.has(snomed)) continue;
    seen.set(snomed, title.replace(/\s*\(disorder\)$/, ''));
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const COLUMNS: Readonly<Record<OpenEmrSeedTable, readonly string[]>> = {
  facility: [
    'id',
    'name',
    'phone',
    'fax',
    'street',
    'city',
    'state',
    'postal_code',
    'country_code',
    'email',
    'service_location',
    'facility_npi',
    'inactive',
    'last_updated',
  ],
  users: [
    'id',
    'username',
    'authorized',
    'title',
    'fname',
    'mname',
    'lname',
    'suffix',
    'federaltaxid',
    'facility',
    'facility_id',
    'active',
    'npi',
    'specialty',
    'taxonomy',
    'email',
    'phonew1',
    'calendar',
    'state_license_number',
    'last_updated',
  ],
  openemr_postcalendar_categories: [
    'pc_catid',
    'pc_constant_id',
    'pc_catname',
    'pc_catcolor',
    'pc_catdesc',
    'pc_duration',
    'pc_cattype',
  ],
  insurance_companies: ['id', 'name', 'cms_id', 'ins_type_code'],
  patient_data: [
    'pid',
    'pubpid',
    'title',
    'fname',
    'mname',
    'lname',
    'DOB',
    'sex',
    'language',
    'street',
    'city',
    'state',
    'postal_code',
    'country_code',
    'phone_home',
    'phone_cell',
    'email',
    'providerID',
    'deceased_date',
    'date',
    'regdate',
    'last_updated',
  ],
  insurance_data: [
    'id',
    'type',
    'provider',
    'plan_name',
    'policy_number',
    'group_number',
    'subscriber_lname',
    'subscriber_fname',
    'subscriber_relationship',
    'subscriber_DOB',
    'date',
    'pid',
    'date_end',
  ],
  openemr_postcalendar_events: [
    'pc_eid',
    'pc_catid',
    'pc_multiple',
    'pc_aid',
    'pc_pid',
    'pc_title',
    'pc_time',
    'pc_hometext',
    'pc_informant',
    'pc_eventDate',
    'pc_endDate',
    'pc_duration',
    'pc_recurrtype',
    'pc_recurrspec',
    'pc_startTime',
    'pc_endTime',
    'pc_alldayevent',
    'pc_eventstatus',
    'pc_apptstatus',
    'pc_facility',
    'pc_billing_location',
    'pc_room',
  ],
  form_encounter: [
    'id',
    'date',
    'reason',
    'facility',
    'facility_id',
    'pid',
    'encounter',
    'pc_catid',
    'provider_id',
    'supervisor_id',
    'billing_facility',
    'class_code',
  ],
  billing: [
    'id',
    'date',
    'code_type',
    'code',
    'pid',
    'provider_id',
    'user',
    'authorized',
    'encounter',
    'code_text',
    'billed',
    'activity',
    'modifier',
    'units',
    'fee',
    'justify',
  ],
  lists: [
    'id',
    'date',
    'type',
    'title',
    'begdate',
    'enddate',
    'diagnosis',
    'activity',
    'pid',
    'user',
    'verification',
  ],
};

type Row = Record<string, SqlValue>;

/**
 * The date columns the generator may leave empty, with the "no date" value a NOT NULL column gets
 * instead. OpenEMR's own schema makes them NULLable; tables created from the connector's
 * declarations make date columns NOT NULL with a sentinel default, which the mapping reads as
 * "no date" too (docs/standard-model.md, "Conventions").
 */
const NO_DATE: Readonly<Partial<Record<OpenEmrSeedTable, Readonly<Record<string, string>>>>> = {
  patient_data: { deceased_date: '0001-01-01 00:00:00' },
  insurance_data: { subscriber_DOB: '0001-01-01', date: '0001-01-01', date_end: '0001-01-01' },
  openemr_postcalendar_events: { pc_endDate: '0001-01-01' },
  lists: { begdate: '0001-01-01 00:00:00', enddate: '0001-01-01 00:00:00' },
};

async function notNullColumns(session: InsertSession, table: string): Promise<Set<string>> {
  const rows =
    session.dialect === 'mysql'
      ? await session.query(
          "SELECT COLUMN_NAME AS name FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND IS_NULLABLE = 'NO'",
          [table],
        )
      : await session.query('SELECT name FROM pragma_table_info(?) WHERE "notnull" = 1', [table]);
  return new Set(rows.map((r) => String(r['name'] ?? r['NAME'])));
}

/** Replaces NULL in NOT NULL date columns by the sentinel of {@link NO_DATE}. */
function fillNoDates(
  row: Row,
  notNull: ReadonlySet<string>,
  sentinels: Readonly<Record<string, string>> | undefined,
): Row {
  if (!sentinels) return row;
  for (const [column, value] of Object.entries(sentinels))
    if (row[column] === null && notNull.has(column)) row[column] = value;
  return row;
}

/**
 * Fills an OpenEMR database (its real `database.sql` schema, or the tables `tendril seed` creates
 * from the connector's declarations) with a deterministic, realistic practice: two facilities,
 * four physicians and a front-desk user, payers, then per patient demographics, coverage, a year
 * of appointments around `now` (past ones checked out, no-shows and cancellations; future ones
 * booked or confirmed), an encounter with CPT/HCPCS billing lines per completed visit, and a
 * problem list (ICD-10, plus Synthea SNOMED problems when that sample is present). Ids continue
 * after the rows already there, so the fixture's example patients and users stay untouched.
 * Local change stamps (`last_updated`) are written explicitly, a day before `now`: the declared
 * tables have no `ON UPDATE` default, and a database default in a UTC session would lie in the
 * future of a western office's wall clock. UTC stamps (`last_update`, `modifydate`) are left to
 * the database.
 */
export async function seedOpenEmr(knex: Knex, options: SeedOpenEmrOptions): Promise<OpenEmrSeedSummary> {
  const started = Date.now();
  const patients = options.patients;
  if (!Number.isInteger(patients) || patients < 1)
    throw seedError('patients must be a positive integer', { option: 'patients' });
  if (!GENERATOR_DIALECTS.includes(options.dialect)) {
    throw new TendrilError(
      'TENDRIL_E_DB_DIALECT',
      'the data generator writes to mysql or sqlite; pass one of them as dialect',
      {
        details: { dialect: options.dialect },
      },
    );
  }
  const now = options.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw seedError('now must be a valid date', { option: 'now' });
  const seed = options.seed ?? 'tendril';
  const today = Math.floor(now.getTime() / DAY_MS);
  // `last_updated` is db-local: a day before `now` (as UTC wall time) is in the past in every zone.
  const stamp = new Date(now.getTime() - DAY_MS).toISOString().slice(0, 19).replace('T', ' ');
  const problems = syntheaProblems(options.syntheaDir);

  const session = await InsertSession.start(knex, options.dialect);
  let success = false;
  try {
    const missing: OpenEmrSeedTable[] = [];
    const writers = {} as Record<OpenEmrSeedTable, BatchWriter<Row>>;
    const next = {} as Record<OpenEmrSeedTable, number>;
    for (const table of OPENEMR_SEED_TABLES) {
      const present = await session.columnsOf(table);
      if (present === undefined) missing.push(table);
      const writer = new BatchWriter<Row>(
        session,
        table,
        [...COLUMNS[table]],
        present,
        options.batchSize ?? 1000,
      );
      const notNull = present === undefined ? new Set<string>() : await notNullColumns(session, table);
      const add = writer.add.bind(writer);
      writer.add = (row: Row) => add(fillNoDates(row, notNull, NO_DATE[table]));
      writers[table] = writer;
      const key = COLUMNS[table][0] as string;
      const max = present === undefined ? [] : await session.query(`SELECT MAX(${key}) AS m FROM ${table}`);
      next[table] = Number(max[0]?.['m'] ?? 0) + 1;
    }
    if (missing.includes('patient_data')) {
      throw seedError(
        'the database has no patient_data table; create the tables first (tendril seed creates them from the connector declarations)',
        {
          table: 'patient_data',
        },
      );
    }
    const rng = new Random(seed);
    const take = (table: OpenEmrSeedTable) => next[table]++;

    const facilities: { id: number; name: string }[] = [];
    for (const [name, [city, state, zip]] of [
      ['Riverside Family Medicine', CITIES[0]!],
      ['Hillcrest Clinic', CITIES[1]!],
    ] as const) {
      const id = take('facility');
      facilities.push({ id, name });
      writers.facility.add({
        id,
        name,
        phone: `503555${String(100 + id)
          .slice(-4)
          .padStart(4, '0')}`,
        fax: '',
        street: `${rng.int(100, 999)} ${rng.pick(STREET_NAMES)} ${rng.pick(STREET_SUFFIXES)}`,
        city,
        state,
        postal_code: zip,
        country_code: 'US',
        email: `front-desk${id}@example.com`,
        service_location: 1,
        facility_npi: npi(rng),
        inactive: 0,
        last_updated: stamp,
      });
    }

    const providers: { id: number; facility: number }[] = [];
    const doctors = [
      ['Sarah', 'Chen', 'MD'],
      ['Marcus', 'Webb', 'DO'],
      ['Priya', 'Raman', 'MD'],
      ['Elena', 'Ortiz', 'NP'],
    ] as const;
    for (const [index, [fname, lname, suffix]] of doctors.entries()) {
      const id = take('users');
      const facility = facilities[index % facilities.length]!;
      providers.push({ id, facility: facility.id });
      writers.users.add({
        id,
        username: `${fname.toLowerCase()}.${lname.toLowerCase()}.${id}`,
        authorized: 1,
        title: suffix === 'NP' ? '' : 'Dr.',
        fname,
        mname: '',
        lname,
        suffix,
        federaltaxid: '',
        facility: facility.name,
        facility_id: facility.id,
        active: index === 3 && rng.chance(0.5) ? 0 : 1,
        npi: npi(rng),
        specialty: suffix === 'NP' ? 'Nurse Practitioner' : 'Family Medicine',
        taxonomy: suffix === 'NP' ? '363LF0000X' : '207Q00000X',
        email: `${lname.toLowerCase()}@example.org`,
        phonew1: `503555${String(200 + id)
          .slice(-4)
          .padStart(4, '0')}`,
        calendar: 1,
        state_license_number: `OR${rng.int(10000, 99999)}`,
        last_updated: stamp,
      });
    }
    const frontDesk = take('users');
    writers.users.add({
      id: frontDesk,
      username: `frontdesk.${frontDesk}`,
      authorized: 0,
      title: '',
      fname: 'Jordan',
      mname: '',
      lname: 'Blake',
      suffix: '',
      federaltaxid: '',
      facility: facilities[0]!.name,
      facility_id: facilities[0]!.id,
      active: 1,
      npi: '',
      specialty: '',
      taxonomy: '',
      email: '',
      phonew1: '',
      calendar: 0,
      state_license_number: '',
      last_updated: stamp,
    });

    const categoryRows = missing.includes('openemr_postcalendar_categories')
      ? []
      : await session.query('SELECT pc_catid FROM openemr_postcalendar_categories');
    if (categoryRows.length === 0) {
      for (const [id, constant, name, type] of CATEGORIES) {
        writers.openemr_postcalendar_categories.add({
          pc_catid: id,
          pc_constant_id: constant,
          pc_catname: name,
          pc_catcolor: '#ffecb4',
          pc_catdesc: name,
          pc_duration: 900,
          pc_cattype: type,
        });
      }
    }

    const payers: number[] = [];
    for (const [name, cmsId] of PAYERS) {
      const id = take('insurance_companies');
      payers.push(id);
      writers.insurance_companies.add({ id, name, cms_id: cmsId, ins_type_code: 2 });
    }
    for (const table of OPENEMR_SEED_TABLES) await writers[table].flush();

    const people = rng.fork('patients');
    for (let n = 0; n < patients; n++) {
      const pid = take('patient_data');
      const female = people.chance(0.52);
      const fname = people.pick(female ? FEMALE_FIRST_NAMES : MALE_FIRST_NAMES);
      const lname = people.pick(LAST_NAMES);
      const [city, state, zip] = people.pick(CITIES);
      const birth = today - people.int(2 * 365, 90 * 365);
      const provider = people.pick(providers);
      const deceased = people.chance(0.01);
      const phone = `555${String(people.int(100, 199)).padStart(3, '0')}${String(people.int(0, 9999)).padStart(4, '0')}`;
      writers.patient_data.add({
        pid,
        pubpid: `MR${String(pid).padStart(6, '0')}`,
        title: female ? 'Ms.' : 'Mr.',
        fname,
        mname: people.chance(0.4) ? people.pick([...MIDDLE_INITIALS]) : '',
        lname,
        DOB: dayText(birth),
        sex: female ? 'Female' : 'Male',
        language: people.weighted([
          ['english', 85],
          ['spanish', 10],
          ['vietnamese', 3],
          ['', 2],
        ]),
        street: `${people.int(10, 9999)} ${people.pick(STREET_NAMES)} ${people.pick(STREET_SUFFIXES)}`,
        city,
        state,
        postal_code: zip,
        country_code: 'US',
        phone_home: people.chance(0.5) ? `(${phone.slice(0, 3)}) ${phone.slice(3, 6)}-${phone.slice(6)}` : '',
        phone_cell: people.chance(0.85) ? phone : '',
        email: people.chance(0.7)
          ? `${fname}.${lname}${pid}@${people.pick(EMAIL_DOMAINS)}`.toLowerCase()
          : '',
        providerID: provider.id,
        deceased_date: deceased ? `${dayText(today - people.int(1, 700))} 00:00:00` : null,
        date: `${dayText(today - people.int(30, 3000))} 09:00:00`,
        regdate: `${dayText(today - people.int(30, 3000))} 09:00:00`,
        last_updated: stamp,
      });

      // Coverage: most have a primary plan, some a secondary; OpenEMR also keeps empty placeholder rows.
      const start = dayText(today - people.int(60, 1500));
      for (const [type, chance] of [
        ['primary', 0.8],
        ['secondary', 0.2],
      ] as const) {
        if (!people.chance(chance)) continue;
        writers.insurance_data.add({
          id: take('insurance_data'),
          type,
          provider: String(people.pick(payers)),
          plan_name: people.pick(['PPO Gold', 'HMO Select', 'Medicare Part B', 'EPO Basic']),
          policy_number: `W${people.int(10_000_000, 99_999_999)}`,
          group_number: `G${people.int(1000, 9999)}`,
          subscriber_lname: lname,
          subscriber_fname: fname,
          subscriber_relationship: people.weighted([
            ['self', 80],
            ['spouse', 12],
            ['child', 8],
          ]),
          subscriber_DOB: dayText(birth),
          date: start,
          pid,
          date_end: people.chance(0.05) ? dayText(today - people.int(1, 50)) : null,
        });
      }
      if (people.chance(0.3)) {
        writers.insurance_data.add({
          id: take('insurance_data'),
          type: 'tertiary',
          provider: '',
          plan_name: '',
          policy_number: '',
          group_number: '',
          subscriber_lname: '',
          subscriber_fname: '',
          subscriber_relationship: '',
          subscriber_DOB: null,
          date: null,
          pid,
          date_end: null,
        });
      }

      // Appointments from 9 months back to 4 months ahead; completed past visits get an encounter and billing.
      const visits = people.int(0, 6);
      for (let v = 0; v < visits; v++) {
        const day = today + people.int(-270, 120);
        const startMinutes = people.int(32, 66) * 15; // 08:00–16:30
        const minutes = people.pick([15, 30, 30, 45]);
        const past = day < today;
        const status = past
          ? people.weighted([
              ['>', 78],
              ['x', 8],
              ['?', 6],
              ['%', 4],
              ['@', 4],
            ])
          : people.weighted([
              ['-', 60],
              ['AVM', 10],
              ['SMS', 10],
              ['x', 8],
              ['^', 4],
              ['*', 8],
            ]);
        const catid = people.weighted([
          [9, 70],
          [5, 20],
          [10, 10],
        ]);
        const provider2 = people.chance(0.85) ? provider : people.pick(providers);
        writers.openemr_postcalendar_events.add({
          pc_eid: take('openemr_postcalendar_events'),
          pc_catid: catid,
          pc_multiple: 0,
          pc_aid: String(provider2.id),
          pc_pid: String(pid),
          pc_title: catid === 9 ? 'Established Patient' : catid === 5 ? 'Office Visit' : 'New Patient',
          pc_time: `${dayText(day - people.int(1, 60))} 10:15:00`,
          pc_hometext: people.chance(0.2)
            ? people.pick(['Follow-up on labs', 'Annual physical', 'Medication review', 'Cough for 2 weeks'])
            : '',
          pc_informant: String(frontDesk),
          pc_eventDate: dayText(day),
          pc_endDate: null,
          pc_duration: minutes * 60,
          pc_recurrtype: 0,
          pc_recurrspec: '',
          pc_startTime: timeText(startMinutes),
          pc_endTime: timeText(startMinutes + minutes),
          pc_alldayevent: 0,
          pc_eventstatus: 1,
          pc_apptstatus: status,
          pc_facility: provider2.facility,
          pc_billing_location: provider2.facility,
          pc_room: '',
        });
        if (!past || (status !== '>' && status !== '@')) continue;
        const encounter = take('form_encounter');
        const visitAt = `${dayText(day)} ${timeText(startMinutes)}`;
        writers.form_encounter.add({
          id: encounter,
          date: visitAt,
          reason: people.pick(['Follow-up', 'Annual exam', 'Acute visit', 'Medication refill']),
          facility: facilities.find((f) => f.id === provider2.facility)!.name,
          facility_id: provider2.facility,
          pid,
          encounter,
          pc_catid: catid,
          provider_id: provider2.id,
          supervisor_id: 0,
          billing_facility: provider2.facility,
          class_code: 'AMB',
        });
        const [icd] = people.pick(ICD10_PROBLEMS);
        const billed = day < today - 14 && people.chance(0.9) ? 1 : 0;
        const lines: (readonly [string, string, string, number])[] = [['CPT4', ...people.pick(VISIT_CODES)]];
        if (people.chance(0.35)) lines.push(people.pick(EXTRA_CODES));
        for (const [type, code, text, fee] of lines) {
          writers.billing.add({
            id: take('billing'),
            date: `${dayText(day)} 17:30:00`,
            code_type: type,
            code,
            pid,
            provider_id: provider2.id,
            user: provider2.id,
            authorized: 1,
            encounter,
            code_text: text,
            billed,
            activity: people.chance(0.03) ? 0 : 1,
            modifier: '',
            units: 1,
            fee: fee.toFixed(2),
            justify: `ICD10:${icd}:`,
          });
        }
        // The claim's diagnosis line (not a service: the connector skips it).
        writers.billing.add({
          id: take('billing'),
          date: `${dayText(day)} 17:30:00`,
          code_type: 'ICD10',
          code: icd,
          pid,
          provider_id: provider2.id,
          user: provider2.id,
          authorized: 1,
          encounter,
          code_text: '',
          billed,
          activity: 1,
          modifier: '',
          units: 1,
          fee: '0.00',
          justify: '',
        });
      }

      // Problem list: ICD-10 problems, and Synthea SNOMED problems when the sample is there.
      const problemCount = people.weighted([
        [0, 35],
        [1, 30],
        [2, 20],
        [3, 10],
        [4, 5],
      ]);
      for (let p = 0; p < problemCount; p++) {
        const useSynthea = problems.length > 0 && people.chance(0.4);
        const [code, title] = useSynthea ? people.pick(problems) : people.pick(ICD10_PROBLEMS);
        const begin = today - people.int(30, 3000);
        writers.lists.add({
          id: take('lists'),
          date: `${dayText(begin)} 11:00:00`,
          type: 'medical_problem',
          title,
          begdate: `${dayText(begin)} 00:00:00`,
          enddate: people.chance(0.25)
            ? `${dayText(Math.min(today - 1, begin + people.int(10, 400)))} 00:00:00`
            : null,
          diagnosis: useSynthea ? `SNOMED-CT:${code}` : `ICD10:${code}`,
          activity: people.chance(0.04) ? 0 : 1,
          pid,
          user: 'admin',
          verification: people.weighted([
            ['confirmed', 80],
            ['unconfirmed', 10],
            ['', 10],
          ]),
        });
      }
      if (people.chance(0.2)) {
        writers.lists.add({
          id: take('lists'),
          date: `${dayText(today - 200)} 11:00:00`,
          type: 'allergy',
          title: 'Penicillin',
          begdate: null,
          enddate: null,
          diagnosis: '',
          activity: 1,
          pid,
          user: 'admin',
          verification: '',
        });
      }
      for (const table of OPENEMR_SEED_TABLES) if (writers[table].hasPending) await writers[table].drain();
      if ((n + 1) % 500 === 0) options.onProgress?.(n + 1, patients);
    }
    // Provider calendar entries without a patient (not appointments).
    for (const provider of providers) {
      writers.openemr_postcalendar_events.add({
        pc_eid: take('openemr_postcalendar_events'),
        pc_catid: 8,
        pc_multiple: 0,
        pc_aid: String(provider.id),
        pc_pid: '',
        pc_title: 'Lunch',
        pc_time: `${dayText(today - 3)} 08:00:00`,
        pc_hometext: '',
        pc_informant: String(frontDesk),
        pc_eventDate: dayText(today + 1),
        pc_endDate: null,
        pc_duration: 3600,
        pc_recurrtype: 0,
        pc_recurrspec: '',
        pc_startTime: '12:00:00',
        pc_endTime: '13:00:00',
        pc_alldayevent: 0,
        pc_eventstatus: 1,
        pc_apptstatus: '-',
        pc_facility: provider.facility,
        pc_billing_location: provider.facility,
        pc_room: '',
      });
    }
    for (const table of OPENEMR_SEED_TABLES) await writers[table].flush();
    await session.settle();
    options.onProgress?.(patients, patients);
    const rows = Object.fromEntries(OPENEMR_SEED_TABLES.map((t) => [t, writers[t].written])) as Record<
      OpenEmrSeedTable,
      number
    >;
    success = true;
    return {
      seed: String(seed),
      patients,
      rows,
      missingTables: missing,
      synthea: problems.length > 0,
      durationMs: Date.now() - started,
    };
  } finally {
    await session.end(success);
  }
}

/** A 10-digit NPI-shaped number with a valid check digit (Luhn over the `80840` prefix). */
function npi(rng: Random): string {
  const base = `1${String(rng.int(0, 99_999_999)).padStart(8, '0')}`;
  const digits = `80840${base}`;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return `${base}${(10 - (sum % 10)) % 10}`;
}
