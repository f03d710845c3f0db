import type { Knex } from 'knex';
import { TendrilError } from '@tendril/core';
import {
  BatchWriter,
  CITIES,
  EMAIL_DOMAINS,
  FEMALE_FIRST_NAMES,
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
  type Weighted,
} from '@tendril/testing';
import {
  APPOINTMENT_NOTES,
  APPOINTMENT_TYPES,
  APT_STATUS,
  CARRIERS,
  CLINIC_NAMES,
  CODE_NUM,
  DEFINITIONS,
  EMPLOYERS,
  NICKNAMES,
  PROC_STATUS,
  PROCEDURE_CODES,
  argb,
  type AppointmentType,
  type ProcedureCode,
  type ToothSite,
  type VisitKind,
} from './reference.js';

/** The Open Dental tables the generator fills, in the order it fills them. */
export const OPEN_DENTAL_SEED_TABLES = [
  'definition',
  'clinic',
  'provider',
  'operatory',
  'appointmenttype',
  'procedurecode',
  'carrier',
  'insplan',
  'patient',
  'inssub',
  'patplan',
  'appointment',
  'procedurelog',
  'deletedobject',
] as const;
export type OpenDentalSeedTable = (typeof OPEN_DENTAL_SEED_TABLES)[number];

export interface SeedOpenDentalOptions {
  /** How many patients to create (PatNum 1..patients). */
  readonly patients: number;
  /** Same seed, same `now` → byte-identical rows. Default `'tendril'`. */
  readonly seed?: Seed;
  readonly dialect: GeneratorDialect;
  /**
   * Anchor of the appointment year (9 months back, 3 months ahead). Only its UTC day matters, so
   * two runs on the same day agree. Default: the current time.
   */
  readonly now?: Date;
  /** Called with patients written so far and the total, after each patient batch. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Rows per INSERT statement (fewer when a row has many columns, SQLite). Default 2,000. */
  readonly batchSize?: number;
  /** Number of clinics; 0 = clinics disabled (every ClinicNum is 0). Default 2. */
  readonly clinics?: number;
  /**
   * Write this instant (as UTC `YYYY-MM-DD HH:MM:SS`) into DateTStamp / SecDateTEdit. Without it
   * those columns are left out of the INSERTs and the database's default stamps them.
   */
  readonly stamp?: Date;
}

export interface SeedSummary {
  readonly seed: string;
  readonly patients: number;
  /** Rows inserted per table (0 for tables the database lacks). */
  readonly rows: Readonly<Record<OpenDentalSeedTable, number>>;
  /** Tables the generator has rows for but the database does not have. */
  readonly missingTables: readonly OpenDentalSeedTable[];
  readonly durationMs: number;
}

const DAY_MS = 86_400_000;
const DEFAULT_SEED = 'tendril';
const NO_DATE = '0001-01-01';
const NO_DATETIME = '0001-01-01 00:00:00';
/** 1970-01-01 was a Thursday: day number → weekday (0 = Sunday) is (day + 4) % 7. */
const EPOCH_WEEKDAY = 4;
const OFFICE_OPENS = 7 * 60;
const OFFICE_CLOSES = 17 * 60;

function seedError(message: string, details: Record<string, unknown> = {}): TendrilError {
  return new TendrilError('TENDRIL_E_SEED', message, { details });
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const dayTextCache = new Map<number, string>();

/** A UTC day number (days since 1970-01-01) as `YYYY-MM-DD`. */
function dayText(day: number): string {
  let text = dayTextCache.get(day);
  if (text === undefined) {
    text = new Date(day * DAY_MS).toISOString().slice(0, 10);
    dayTextCache.set(day, text);
  }
  return text;
}

/** A wall time: day number plus minutes after midnight, as `YYYY-MM-DD HH:MM:SS`. */
function dateTimeText(day: number, minutes: number): string {
  const d = day + Math.floor(minutes / 1440);
  const m = ((minutes % 1440) + 1440) % 1440;
  return `${dayText(d)} ${TWO_DIGITS[Math.floor(m / 60)] as string}:${TWO_DIGITS[m % 60] as string}:00`;
}

function dayOf(year: number, month: number, date: number): number {
  return Math.floor(Date.UTC(year, month - 1, date) / DAY_MS);
}

function utcText(instant: Date): string {
  return instant.toISOString().slice(0, 19).replace('T', ' ');
}

/** A 10-digit NPI-shaped number with a valid check digit (Luhn over the `80840` prefix). */
function npi(rng: Random): string {
  const base = `1${String(rng.int(0, 99_999_999)).padStart(8, '0')}`;
  const digits = `80840${base}`;
  let sum = 0;
  let double = true;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = Number(digits[i]);
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return `${base}${(10 - (sum % 10)) % 10}`;
}

/** A phone number in the fictional 555-0100…0199 range, punctuated like Open Dental stores it. */
function phone(rng: Random, area = '555'): string {
  return `(${area})555-01${TWO_DIGITS[rng.int(0, 99)] as string}`;
}

// Column lists, in the order rows are built. `satisfies` keeps them in step with the row types.
const COLUMNS = {
  definition: ['DefNum', 'Category', 'ItemOrder', 'ItemName', 'ItemValue', 'ItemColor', 'IsHidden'],
  clinic: [
    'ClinicNum',
    'Description',
    'Abbr',
    'Address',
    'Address2',
    'City',
    'State',
    'Zip',
    'Phone',
    'DefaultProv',
    'ItemOrder',
    'IsHidden',
  ],
  provider: [
    'ProvNum',
    'Abbr',
    'ItemOrder',
    'LName',
    'FName',
    'MI',
    'Suffix',
    'Specialty',
    'StateLicense',
    'IsSecondary',
    'ProvColor',
    'IsHidden',
    'NationalProvID',
    'ProvStatus',
    'DateTerm',
  ],
  operatory: [
    'OperatoryNum',
    'OpName',
    'Abbrev',
    'ItemOrder',
    'IsHidden',
    'ProvDentist',
    'ProvHygienist',
    'IsHygiene',
    'ClinicNum',
    'IsWebSched',
  ],
  appointmenttype: [
    'AppointmentTypeNum',
    'AppointmentTypeName',
    'AppointmentTypeColor',
    'ItemOrder',
    'IsHidden',
    'Pattern',
    'CodeStr',
  ],
  procedurecode: [
    'CodeNum',
    'ProcCode',
    'Descript',
    'AbbrDesc',
    'ProcTime',
    'ProcCat',
    'TreatArea',
    'IsHygiene',
    'PaintType',
    'LaymanTerm',
    'BaseUnits',
  ],
  carrier: [
    'CarrierNum',
    'CarrierName',
    'Address',
    'City',
    'State',
    'Zip',
    'Phone',
    'ElectID',
    'NoSendElect',
    'SecDateEntry',
  ],
  insplan: ['PlanNum', 'GroupName', 'GroupNum', 'PlanType', 'CarrierNum', 'IsMedical', 'SecDateEntry'],
  patient: [
    'PatNum',
    'LName',
    'FName',
    'MiddleI',
    'Preferred',
    'PatStatus',
    'Gender',
    'Position',
    'Birthdate',
    'Address',
    'Address2',
    'City',
    'State',
    'Zip',
    'HmPhone',
    'WkPhone',
    'WirelessPhone',
    'Guarantor',
    'Email',
    'PriProv',
    'SecProv',
    'BillingType',
    'ImageFolder',
    'ChartNumber',
    'DateFirstVisit',
    'ClinicNum',
    'HasIns',
    'PreferConfirmMethod',
    'PreferContactMethod',
    'PreferRecallMethod',
    'Language',
    'TxtMsgOk',
    'DateTimeDeceased',
    'SecDateEntry',
    'Country',
  ],
  inssub: [
    'InsSubNum',
    'PlanNum',
    'Subscriber',
    'DateEffective',
    'DateTerm',
    'ReleaseInfo',
    'AssignBen',
    'SubscriberID',
    'BenefitNotes',
    'SubscNote',
    'SecDateEntry',
  ],
  patplan: [
    'PatPlanNum',
    'PatNum',
    'Ordinal',
    'IsPending',
    'Relationship',
    'PatID',
    'InsSubNum',
    'SecDateTEntry',
  ],
  appointment: [
    'AptNum',
    'PatNum',
    'AptStatus',
    'Pattern',
    'Confirmed',
    'Op',
    'Note',
    'ProvNum',
    'ProvHyg',
    'AptDateTime',
    'IsNewPatient',
    'ProcDescript',
    'ClinicNum',
    'IsHygiene',
    'DateTimeArrived',
    'DateTimeSeated',
    'DateTimeDismissed',
    'InsPlan1',
    'InsPlan2',
    'AppointmentTypeNum',
    'SecDateTEntry',
    'ProcsColored',
  ],
  procedurelog: [
    'ProcNum',
    'PatNum',
    'AptNum',
    'ProcDate',
    'ProcFee',
    'Surf',
    'ToothNum',
    'ProcStatus',
    'ProvNum',
    'PlannedAptNum',
    'PlaceService',
    'DateEntryC',
    'ClinicNum',
    'CodeNum',
    'UnitQty',
    'DateTP',
    'SecDateEntry',
    'DateComplete',
  ],
  deletedobject: ['DeletedObjectNum', 'ObjectNum', 'ObjectType'],
} as const satisfies Record<OpenDentalSeedTable, readonly string[]>;

/** The "last changed" column of each table, written only when `options.stamp` is given. */
const STAMP_COLUMN: Readonly<Record<OpenDentalSeedTable, string | undefined>> = {
  definition: undefined,
  clinic: undefined,
  provider: 'DateTStamp',
  operatory: 'DateTStamp',
  appointmenttype: undefined,
  procedurecode: 'DateTStamp',
  carrier: 'SecDateTEdit',
  insplan: 'SecDateTEdit',
  patient: 'DateTStamp',
  inssub: 'SecDateTEdit',
  patplan: 'SecDateTEdit',
  appointment: 'DateTStamp',
  procedurelog: 'DateTStamp',
  deletedobject: 'DateTStamp',
};

type RowOf<T extends OpenDentalSeedTable> = Record<(typeof COLUMNS)[T][number], SqlValue>;
type Writers = { [T in OpenDentalSeedTable]: BatchWriter<RowOf<T>> };

interface ClinicPlan {
  readonly num: number;
  readonly dentists: number[];
  readonly hygienists: number[];
  readonly dentistOps: number[];
  readonly hygieneOps: number[];
}

interface Reference {
  readonly clinics: readonly ClinicPlan[];
  readonly defs: Readonly<Record<string, number>>;
  readonly planCount: number;
}

interface Member {
  readonly patNum: number;
  readonly role: 'head' | 'spouse' | 'child';
  readonly birthDay: number;
  readonly child: boolean;
  readonly status: number;
  readonly priProv: number;
  readonly secProv: number;
}

/** Everything a generation run shares: streams, clock, writers, key counters. */
class Generation {
  readonly today: number;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly stampText: string | undefined;
  nextAptNum = 1;
  nextProcNum = 1;
  nextInsSubNum = 1;
  nextPatPlanNum = 1;
  nextDeletedNum = 1;
  /** The stream drawn from now: the root stream, or the current family's own (see {@link startFamily}). */
  rng: Random;

  constructor(
    private readonly root: Random,
    readonly writers: Writers,
    now: Date,
    stamp: Date | undefined,
  ) {
    this.today = Math.floor(now.getTime() / DAY_MS);
    this.windowStart = this.today - 273;
    this.windowEnd = this.today + 91;
    this.stampText = stamp === undefined ? undefined : utcText(stamp);
    this.rng = root;
  }

  /**
   * Gives the family starting at `firstPatNum` a stream of its own. Ages and the appointment
   * window depend on today, and so does whether some draws happen at all; with one stream for
   * every family, one such draw would reshuffle every family after it, and the same seed would give
   * different patients (and a different count of deleted ones) from one day to the next.
   */
  startFamily(firstPatNum: number): Random {
    this.rng = this.root.fork(`family-${firstPatNum}`);
    return this.rng;
  }

  add<T extends OpenDentalSeedTable>(table: T, row: RowOf<T>): void {
    const stampColumn = STAMP_COLUMN[table];
    if (this.stampText !== undefined && stampColumn !== undefined) {
      (row as Record<string, SqlValue>)[stampColumn] = this.stampText;
    }
    (this.writers[table] as BatchWriter<RowOf<T>>).add(row);
  }
}

function buildReference(g: Generation, patients: number, clinicCount: number): Reference {
  const rng = g.rng.fork('reference');
  const defs: Record<string, number> = {};
  const orderInCategory = new Map<number, number>();
  DEFINITIONS.forEach(([category, name, key], i) => {
    const order = orderInCategory.get(category) ?? 0;
    orderInCategory.set(category, order + 1);
    defs[key] = i + 1;
    g.add('definition', {
      DefNum: i + 1,
      Category: category,
      ItemOrder: order,
      ItemName: name,
      ItemValue: '',
      ItemColor: 0,
      IsHidden: 0,
    });
  });

  const logicalClinics = Math.max(1, clinicCount);
  const clinics: ClinicPlan[] = [];
  for (let c = 0; c < logicalClinics; c++) {
    clinics.push({
      num: clinicCount === 0 ? 0 : c + 1,
      dentists: [],
      hygienists: [],
      dentistOps: [],
      hygieneOps: [],
    });
  }

  // Providers: one per 500 patients, at least 3, and at least one dentist and one hygienist per
  // clinic (the first 2 × clinics). After those, two in five are hygienists.
  const providerCount = Math.max(3, 2 * logicalClinics, Math.ceil(patients / 500));
  for (let i = 0; i < providerCount; i++) {
    const clinic = clinics[i % logicalClinics] as ClinicPlan;
    const hygienist = i < 2 * logicalClinics ? i >= logicalClinics : i % 5 === 1 || i % 5 === 3;
    const provNum = i + 1;
    const list = hygienist ? clinic.hygienists : clinic.dentists;
    list.push(provNum);
    const female = rng.chance(hygienist ? 0.85 : 0.5);
    const fname = rng.pick(female ? FEMALE_FIRST_NAMES : MALE_FIRST_NAMES);
    const lname = rng.pick(LAST_NAMES);
    const hidden = i >= 2 * logicalClinics && rng.chance(0.04) ? 1 : 0;
    g.add('provider', {
      ProvNum: provNum,
      Abbr: `${hygienist ? 'HYG' : 'DOC'}${provNum}`,
      ItemOrder: i,
      LName: lname,
      FName: fname,
      MI: rng.chance(0.5) ? rng.pick([...MIDDLE_INITIALS]) : '',
      Suffix: hygienist ? 'RDH' : rng.pick(['DDS', 'DMD']),
      Specialty: defs[hygienist ? 'specialty.hygienist' : 'specialty.general'] as number,
      StateLicense: `${hygienist ? 'H' : 'D'}${rng.int(10000, 99999)}`,
      IsSecondary: hygienist ? 1 : 0,
      ProvColor: argb(rng.int(0, 0xffffff)),
      IsHidden: hidden,
      NationalProvID: npi(rng),
      ProvStatus: 0,
      DateTerm: hidden ? dayText(g.today - rng.int(30, 700)) : NO_DATE,
    });
  }

  for (const [c, clinic] of clinics.entries()) {
    if (clinicCount > 0) {
      const [city, state, zip] = rng.pick(CITIES);
      const name = CLINIC_NAMES[c % CLINIC_NAMES.length] as string;
      g.add('clinic', {
        ClinicNum: clinic.num,
        Description: c < CLINIC_NAMES.length ? name : `${name} ${Math.floor(c / CLINIC_NAMES.length) + 1}`,
        Abbr: name.split(' ')[0] ?? name,
        Address: `${rng.int(100, 9999)} ${rng.pick(STREET_NAMES)} ${rng.pick(STREET_SUFFIXES)}`,
        Address2: rng.chance(0.4) ? `Suite ${rng.int(100, 400)}` : '',
        City: city,
        State: state,
        Zip: zip,
        // clinic.Phone: "Exactly 10 digits or blank", no punctuation.
        Phone: `55555501${TWO_DIGITS[rng.int(0, 99)] as string}`,
        DefaultProv: clinic.dentists[0] ?? 0,
        ItemOrder: c,
        IsHidden: 0,
      });
    }
  }

  let opNum = 0;
  for (const clinic of clinics) {
    const dentistOps = Math.max(2, clinic.dentists.length);
    const hygieneOps = Math.max(1, clinic.hygienists.length);
    for (let k = 0; k < dentistOps + hygieneOps; k++) {
      const hygiene = k >= dentistOps;
      const n = hygiene ? k - dentistOps + 1 : k + 1;
      opNum++;
      (hygiene ? clinic.hygieneOps : clinic.dentistOps).push(opNum);
      g.add('operatory', {
        OperatoryNum: opNum,
        OpName: hygiene ? `Hygiene ${n}` : `Op ${n}`,
        Abbrev: hygiene ? `H${n}` : `OP${n}`,
        ItemOrder: k,
        IsHidden: 0,
        ProvDentist: hygiene ? 0 : (clinic.dentists[(n - 1) % clinic.dentists.length] ?? 0),
        ProvHygienist: hygiene ? (clinic.hygienists[(n - 1) % clinic.hygienists.length] ?? 0) : 0,
        IsHygiene: hygiene ? 1 : 0,
        ClinicNum: clinic.num,
        IsWebSched: hygiene && n === 1 ? 1 : 0,
      });
    }
  }

  APPOINTMENT_TYPES.forEach((type, i) => {
    g.add('appointmenttype', {
      AppointmentTypeNum: i + 1,
      AppointmentTypeName: type.name,
      AppointmentTypeColor: argb(type.color),
      ItemOrder: i,
      IsHidden: 0,
      Pattern: type.pattern,
      CodeStr: type.codes.join(','),
    });
  });

  PROCEDURE_CODES.forEach((code, i) => {
    g.add('procedurecode', {
      CodeNum: i + 1,
      ProcCode: code.code,
      Descript: code.descript,
      AbbrDesc: code.abbr,
      ProcTime: code.time,
      ProcCat: defs[code.category] as number,
      TreatArea: code.treatArea,
      IsHygiene: code.hygiene ? 1 : 0,
      PaintType: 0,
      LaymanTerm: '',
      BaseUnits: 0,
    });
  });

  CARRIERS.forEach(([name, electId], i) => {
    const [city, state, zip] = rng.pick(CITIES);
    g.add('carrier', {
      CarrierNum: i + 1,
      CarrierName: name,
      Address: `P.O. Box ${rng.int(1000, 99999)}`,
      City: city,
      State: state,
      Zip: zip,
      Phone: phone(rng, '800'),
      ElectID: electId,
      NoSendElect: 0,
      SecDateEntry: dayText(g.today - rng.int(900, 3000)),
    });
  });

  const planCount = Math.min(5000, Math.max(10, Math.ceil(patients / 150)));
  for (let p = 1; p <= planCount; p++) {
    g.add('insplan', {
      PlanNum: p,
      GroupName: rng.pick(EMPLOYERS),
      GroupNum: String(rng.int(100000, 9999999)),
      PlanType: rng.chance(0.6) ? 'p' : '',
      CarrierNum: rng.int(1, CARRIERS.length),
      IsMedical: 0,
      SecDateEntry: dayText(g.today - rng.int(60, 3000)),
    });
  }

  return { clinics, defs, planCount };
}

const FAMILY_SIZES: readonly Weighted<number>[] = [
  [1, 38],
  [2, 24],
  [3, 16],
  [4, 14],
  [5, 8],
];
const PAT_STATUS: readonly Weighted<number>[] = [
  [0, 92],
  [2, 5],
  [4, 1.5],
  [3, 1],
];
const APPOINTMENTS_PER_PATIENT: readonly Weighted<number>[] = [
  [0, 18],
  [1, 32],
  [2, 32],
  [3, 13],
  [4, 5],
];
const PAST_STATUS: readonly Weighted<number>[] = [
  [APT_STATUS.Complete, 84],
  [APT_STATUS.Broken, 9],
  [APT_STATUS.Scheduled, 3],
  [APT_STATUS.UnschedList, 2],
  [APT_STATUS.Planned, 2],
];
const FUTURE_STATUS: readonly Weighted<number>[] = [
  [APT_STATUS.Scheduled, 93],
  [APT_STATUS.UnschedList, 2],
  [APT_STATUS.Planned, 5],
];
const ADULT_VISITS: readonly Weighted<AppointmentType>[] = APPOINTMENT_TYPES.map(
  (t) => [t, t.weight] as const,
);
const CHILD_VISIT_WEIGHTS: Readonly<Partial<Record<VisitKind, number>>> = {
  recall: 75,
  'new-patient': 5,
  restorative: 12,
  emergency: 4,
  extraction: 4,
};
const CHILD_VISITS: readonly Weighted<AppointmentType>[] = APPOINTMENT_TYPES.filter(
  (t) => CHILD_VISIT_WEIGHTS[t.kind] !== undefined,
).map((t) => [t, CHILD_VISIT_WEIGHTS[t.kind] as number] as const);
const BIRTH_MIN = dayOf(1935, 1, 1);
const BIRTH_MAX = dayOf(2022, 12, 31);

const POSTERIOR = [2, 3, 4, 5, 12, 13, 14, 15, 18, 19, 20, 21, 28, 29, 30, 31];
const ANTERIOR = [6, 7, 8, 9, 10, 11, 22, 23, 24, 25, 26, 27];
const MOLARS = [1, 2, 3, 14, 15, 16, 17, 18, 19, 30, 31, 32];
const ONE_SURFACE_POSTERIOR: readonly Weighted<string>[] = [
  ['O', 50],
  ['M', 15],
  ['D', 15],
  ['B', 12],
  ['L', 8],
];
const TWO_SURFACES_POSTERIOR: readonly Weighted<string>[] = [
  ['MO', 40],
  ['DO', 40],
  ['OB', 10],
  ['OL', 10],
];
const ONE_SURFACE_ANTERIOR: readonly Weighted<string>[] = [
  ['F', 35],
  ['M', 20],
  ['D', 20],
  ['L', 15],
  ['I', 10],
];
const QUADRANTS = ['UR', 'UL', 'LL', 'LR'];

function toothAndSurface(rng: Random, site: ToothSite): [tooth: string, surface: string] {
  switch (site) {
    case 'mouth':
      return ['', ''];
    case 'posterior-one-surface':
      return [String(rng.pick(POSTERIOR)), rng.weighted(ONE_SURFACE_POSTERIOR)];
    case 'posterior-two-surfaces':
      return [String(rng.pick(POSTERIOR)), rng.weighted(TWO_SURFACES_POSTERIOR)];
    case 'anterior-one-surface':
      return [String(rng.pick(ANTERIOR)), rng.weighted(ONE_SURFACE_ANTERIOR)];
    case 'posterior-tooth':
      return [String(rng.pick(POSTERIOR)), ''];
    case 'anterior-tooth':
      return [String(rng.pick(ANTERIOR)), ''];
    case 'molar':
      return [String(rng.pick(MOLARS)), ''];
    case 'any-tooth':
      return [String(rng.int(1, 32)), ''];
    case 'quadrant':
      // Open Dental charts quadrant procedures by the quadrant in Surf, with no tooth.
      return ['', rng.pick(QUADRANTS)];
    default:
      return site satisfies never;
  }
}

interface PlannedProc {
  readonly code: ProcedureCode;
  readonly tooth: string;
  readonly surface: string;
}

function proc(rng: Random, code: string, tooth?: string): PlannedProc {
  const definition = PROCEDURE_CODES[(CODE_NUM[code] as number) - 1] as ProcedureCode;
  const [t, s] = toothAndSurface(rng, definition.site);
  return { code: definition, tooth: tooth ?? t, surface: s };
}

/** The procedures of one visit, as an office would chart them. */
function visitProcedures(rng: Random, kind: VisitKind, child: boolean): PlannedProc[] {
  const procs: PlannedProc[] = [];
  switch (kind) {
    case 'recall':
      procs.push(proc(rng, 'D0120'), proc(rng, child ? 'D1120' : 'D1110'));
      if (rng.chance(child ? 0.3 : 0.5)) procs.push(proc(rng, 'D0274'));
      if (child && rng.chance(0.8)) procs.push(proc(rng, 'D1206'));
      if (child && rng.chance(0.2)) procs.push(proc(rng, 'D1351'), proc(rng, 'D1351'));
      break;
    case 'new-patient':
      procs.push(proc(rng, 'D0150'));
      if (rng.chance(0.7)) procs.push(proc(rng, 'D0210'));
      else procs.push(proc(rng, 'D0330'), proc(rng, 'D0274'));
      procs.push(proc(rng, child ? 'D1120' : 'D1110'));
      break;
    case 'perio-maintenance':
      procs.push(proc(rng, 'D4910'));
      if (rng.chance(0.5)) procs.push(proc(rng, 'D0120'));
      if (rng.chance(0.3)) procs.push(proc(rng, 'D0274'));
      break;
    case 'scaling': {
      const first = rng.int(0, 3);
      const quadrants = rng.chance(0.7) ? [first, (first + 1) % 4] : [first];
      for (const q of quadrants) {
        const p = proc(rng, rng.chance(0.75) ? 'D4341' : 'D4342');
        procs.push({ ...p, surface: QUADRANTS[q] as string });
      }
      break;
    }
    case 'restorative': {
      const count = rng.weighted<number>([
        [1, 55],
        [2, 33],
        [3, 12],
      ]);
      for (let i = 0; i < count; i++) {
        procs.push(
          proc(
            rng,
            rng.weighted<string>([
              ['D2391', 40],
              ['D2392', 35],
              ['D2330', 15],
              ['D2140', 10],
            ]),
          ),
        );
      }
      break;
    }
    case 'crown': {
      const crown = proc(rng, rng.chance(0.6) ? 'D2740' : 'D2750');
      procs.push(crown);
      if (rng.chance(0.6)) procs.push(proc(rng, 'D2950', crown.tooth));
      break;
    }
    case 'root-canal':
      procs.push(proc(rng, rng.chance(0.7) ? 'D3330' : 'D3310'));
      break;
    case 'extraction':
      procs.push(proc(rng, rng.chance(0.7) ? 'D7140' : 'D7210'));
      break;
    case 'emergency': {
      const pa = proc(rng, 'D0220');
      procs.push(proc(rng, 'D0140'));
      if (rng.chance(0.8)) procs.push(pa);
      if (rng.chance(0.3)) procs.push(proc(rng, 'D9110'));
      break;
    }
    default:
      return kind satisfies never;
  }
  return procs;
}

/** Appointment length follows the work booked: restorative visits grow with the fillings. */
function patternFor(type: AppointmentType, procs: readonly PlannedProc[]): string {
  if (type.kind !== 'restorative') return type.pattern;
  return `/${'XXXX'.repeat(procs.length)}/`;
}

function clampDay(day: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, day));
}

function birthDay(rng: Random, from: number, to: number): number {
  return rng.int(clampDay(from, BIRTH_MIN, BIRTH_MAX), clampDay(to, BIRTH_MIN, BIRTH_MAX));
}

function ageInYears(birth: number, today: number): number {
  return Math.floor((today - birth) / 365.25);
}

function generateFamily(g: Generation, ref: Reference, firstPatNum: number, lastAllowed: number): number {
  const rng = g.startFamily(firstPatNum);
  const size = Math.min(rng.weighted(FAMILY_SIZES), lastAllowed - firstPatNum + 1);
  // Drawn before anything that depends on today, so each patient's status is the same every day.
  const statuses = Array.from({ length: size }, () => rng.weighted(PAT_STATUS));
  const clinic = rng.pick(ref.clinics);
  const lname = rng.pick(LAST_NAMES);
  const [city, state, zip] = rng.pick(CITIES);
  const address = `${rng.int(100, 19999)} ${rng.pick(STREET_NAMES)} ${rng.pick(STREET_SUFFIXES)}`;
  const address2 = rng.chance(0.12) ? `${rng.pick(['Apt', 'Unit', '#'])} ${rng.int(1, 480)}` : '';
  const homePhone = rng.chance(0.75) ? phone(rng) : '';
  const insured = rng.chance(0.6);
  const guarantor = firstPatNum;
  const headBirth = birthDay(rng, BIRTH_MIN, dayOf(2003, 12, 31));
  const hasSpouse = size >= 2 && rng.chance(0.7);
  const headMale = rng.chance(0.5);
  const language = rng.weighted<string>([
    ['', 85],
    ['eng', 10],
    ['spa', 5],
  ]);

  const members: Member[] = [];
  for (let i = 0; i < size; i++) {
    const patNum = firstPatNum + i;
    const role: Member['role'] = i === 0 ? 'head' : i === 1 && hasSpouse ? 'spouse' : 'child';
    const birth =
      role === 'head'
        ? headBirth
        : role === 'spouse'
          ? birthDay(rng, headBirth - 6 * 365, headBirth + 6 * 365)
          : birthDay(rng, headBirth + 20 * 365, headBirth + 45 * 365);
    const male = role === 'head' ? headMale : role === 'spouse' ? !headMale : rng.chance(0.5);
    const gender = rng.chance(0.005) ? 2 : male ? 0 : 1;
    const age = ageInYears(birth, g.today);
    const child = age < 14;
    let status = statuses[i] as number;
    const deceased = status === 0 && age > 70 && rng.chance(0.02);
    if (deceased) status = 5;
    const fname = rng.pick(male ? MALE_FIRST_NAMES : FEMALE_FIRST_NAMES);
    const nickname = NICKNAMES[fname];
    const adult = age >= 18;
    const priProv = rng.pick(clinic.dentists);
    const secProv = rng.chance(0.6) ? rng.pick(clinic.hygienists) : 0;
    const entered = clampDay(g.today - rng.int(30, 3650), birth, g.today);
    const firstVisit = rng.chance(0.9) ? clampDay(entered + rng.int(0, 30), birth, g.today) : null;
    const email =
      adult && rng.chance(0.65)
        ? `${fname}.${lname}${rng.int(1, 99)}@${rng.pick(EMAIL_DOMAINS)}`.toLowerCase()
        : '';
    const confirmBy = rng.weighted<number>([
      [0, 40],
      [2, 10],
      [4, 20],
      [5, 10],
      [8, 20],
    ]);
    members.push({ patNum, role, birthDay: birth, child, status, priProv, secProv });
    g.add('patient', {
      PatNum: patNum,
      LName: lname,
      FName: fname,
      MiddleI: rng.chance(0.45) ? rng.pick<string>([...MIDDLE_INITIALS]) : '',
      Preferred: nickname !== undefined && rng.chance(0.3) ? nickname : '',
      PatStatus: status,
      Gender: gender,
      Position:
        role === 'child'
          ? 2
          : hasSpouse
            ? 1
            : adult
              ? rng.weighted<number>([
                  [0, 70],
                  [3, 10],
                  [4, 20],
                ])
              : 0,
      Birthdate: dayText(birth),
      Address: address,
      Address2: address2,
      City: city,
      State: state,
      Zip: zip,
      HmPhone: homePhone,
      WkPhone: adult && rng.chance(0.15) ? phone(rng) : '',
      WirelessPhone: age >= 13 && rng.chance(0.8) ? phone(rng) : '',
      Guarantor: guarantor,
      Email: email,
      PriProv: priProv,
      SecProv: secProv,
      BillingType: (insured ? ref.defs['billing.insuranceOnly'] : ref.defs['billing.standard']) as number,
      ImageFolder: `${lname}${fname}${patNum}`.replace(/[^A-Za-z0-9]/g, ''),
      ChartNumber: '',
      DateFirstVisit: firstVisit === null ? NO_DATE : dayText(firstVisit),
      ClinicNum: clinic.num,
      HasIns: insured ? 'I' : '',
      PreferConfirmMethod: confirmBy,
      PreferContactMethod: confirmBy,
      PreferRecallMethod: confirmBy,
      Language: language,
      TxtMsgOk: rng.weighted<number>([
        [0, 50],
        [1, 40],
        [2, 10],
      ]),
      DateTimeDeceased: deceased ? dateTimeText(g.today - rng.int(10, 700), rng.int(0, 1439)) : NO_DATETIME,
      SecDateEntry: dayText(entered),
      Country: '',
    });
  }

  const plans = insured ? generateCoverage(g, ref, members, hasSpouse) : [];
  for (const member of members) {
    if (member.status === 0) generateAppointments(g, ref, clinic, member, plans);
  }
  return size;
}

/** Insurance for an insured family: the guarantor subscribes; one couple in six has two plans. */
function generateCoverage(
  g: Generation,
  ref: Reference,
  members: readonly Member[],
  hasSpouse: boolean,
): number[] {
  const rng = g.rng;
  const head = members[0] as Member;
  const spouse = hasSpouse ? members[1] : undefined;
  const subs: { insSubNum: number; planNum: number; subscriber: Member }[] = [];
  const subscribe = (subscriber: Member) => {
    const insSubNum = g.nextInsSubNum++;
    const planNum = rng.int(1, ref.planCount);
    const effective = g.today - rng.int(30, 3000);
    g.add('inssub', {
      InsSubNum: insSubNum,
      PlanNum: planNum,
      Subscriber: subscriber.patNum,
      DateEffective: dayText(effective),
      DateTerm: NO_DATE,
      ReleaseInfo: 1,
      AssignBen: 1,
      SubscriberID: rng.chance(0.5)
        ? `W${rng.int(10_000_000, 99_999_999)}`
        : String(rng.int(100_000_000, 999_999_999)),
      BenefitNotes: '',
      SubscNote: '',
      SecDateEntry: dayText(effective),
    });
    subs.push({ insSubNum, planNum, subscriber });
  };
  subscribe(head);
  if (spouse !== undefined && rng.chance(1 / 6)) subscribe(spouse);

  for (const member of members) {
    const ordered = subs.length === 2 && member === spouse ? [subs[1], subs[0]] : subs;
    ordered.forEach((sub, i) => {
      if (sub === undefined) return;
      const relationship = sub.subscriber === member ? 0 : member.role === 'child' ? 2 : 1;
      g.add('patplan', {
        PatPlanNum: g.nextPatPlanNum++,
        PatNum: member.patNum,
        Ordinal: i + 1,
        IsPending: 0,
        Relationship: relationship,
        PatID: '',
        InsSubNum: sub.insSubNum,
        SecDateTEntry: dateTimeText(g.today - rng.int(30, 2000), OFFICE_OPENS + 5 * rng.int(0, 119)),
      });
    });
  }
  // A patient's InsPlan1/InsPlan2 on appointments: the family's plans in the head's order.
  return subs.map((s) => s.planNum);
}

function weekday(day: number): number {
  return (day + EPOCH_WEEKDAY) % 7;
}

function generateAppointments(
  g: Generation,
  ref: Reference,
  clinic: ClinicPlan,
  member: Member,
  plans: readonly number[],
): void {
  const rng = g.rng;
  const count = rng.weighted(APPOINTMENTS_PER_PATIENT);
  if (count === 0) return;
  const visits: {
    day: number;
    type: AppointmentType;
    procs: PlannedProc[];
    pattern: string;
    start: number;
  }[] = [];
  for (let i = 0; i < count; i++) {
    let day = rng.int(g.windowStart, g.windowEnd - 1);
    const dow = weekday(day);
    if (dow === 6) day -= 1;
    else if (dow === 0) day += 1;
    const type = rng.weighted(member.child ? CHILD_VISITS : ADULT_VISITS);
    const procs = visitProcedures(rng, type.kind, member.child);
    const pattern = patternFor(type, procs);
    const slots = (OFFICE_CLOSES - OFFICE_OPENS) / 5 - pattern.length;
    const start = OFFICE_OPENS + 5 * rng.int(0, Math.max(0, slots));
    visits.push({ day, type, procs, pattern, start });
  }
  visits.sort((a, b) => a.day - b.day || a.start - b.start);

  for (const visit of visits) {
    const aptNum = g.nextAptNum++;
    const past = visit.day < g.today;
    const status = rng.weighted(past ? PAST_STATUS : FUTURE_STATUS);
    const planned = status === APT_STATUS.Planned;
    const complete = status === APT_STATUS.Complete;
    const hygiene = visit.type.hygiene;
    const provHyg = hygiene ? member.secProv || rng.pick(clinic.hygienists) : 0;
    const booked = Math.min(visit.day, g.today) - rng.int(0, 90);
    const minutes = visit.pattern.length * 5;

    // Now and then an appointment was deleted: its key is gone and deletedobject remembers it.
    if (rng.chance(0.004)) {
      g.add('deletedobject', { DeletedObjectNum: g.nextDeletedNum++, ObjectNum: aptNum, ObjectType: 0 });
      continue;
    }

    const confirmed = complete
      ? (ref.defs[rng.chance(0.7) ? 'confirm.arrived' : 'confirm.confirmed'] as number)
      : (ref.defs[
          rng.weighted<string>([
            ['confirm.notCalled', 40],
            ['confirm.unconfirmed', 20],
            ['confirm.confirmed', 25],
            ['confirm.leftMessage', 10],
            ['confirm.texted', 5],
          ])
        ] as number);
    const arrived = complete ? visit.start - rng.int(0, 15) : 0;
    const seated = complete ? visit.start + rng.int(0, 10) : 0;
    const dismissed = complete ? visit.start + minutes + rng.int(0, 10) : 0;
    g.add('appointment', {
      AptNum: aptNum,
      PatNum: member.patNum,
      AptStatus: status,
      Pattern: visit.pattern,
      Confirmed: confirmed,
      Op: planned ? 0 : rng.pick(hygiene ? clinic.hygieneOps : clinic.dentistOps),
      Note: rng.chance(0.05) ? rng.pick(APPOINTMENT_NOTES) : '',
      ProvNum: member.priProv,
      ProvHyg: provHyg,
      // Planned appointments have no time yet: Open Dental's "no date" sentinel.
      AptDateTime: planned ? NO_DATETIME : dateTimeText(visit.day, visit.start),
      IsNewPatient: visit.type.kind === 'new-patient' ? 1 : 0,
      ProcDescript: visit.procs.map((p) => p.code.abbr).join(', '),
      ClinicNum: clinic.num,
      IsHygiene: hygiene ? 1 : 0,
      DateTimeArrived: complete ? dateTimeText(visit.day, arrived) : NO_DATETIME,
      DateTimeSeated: complete ? dateTimeText(visit.day, seated) : NO_DATETIME,
      DateTimeDismissed: complete ? dateTimeText(visit.day, dismissed) : NO_DATETIME,
      InsPlan1: plans[0] ?? 0,
      InsPlan2: plans[1] ?? 0,
      AppointmentTypeNum: APPOINTMENT_TYPES.indexOf(visit.type) + 1,
      SecDateTEntry: dateTimeText(booked, OFFICE_OPENS + 5 * rng.int(0, 119)),
      ProcsColored: '',
    });

    for (const p of visit.procs) {
      addProcedure(g, member, clinic, p, {
        aptNum: planned ? 0 : aptNum,
        plannedAptNum: planned ? aptNum : 0,
        complete,
        day: planned ? booked : visit.day,
        tpDay: complete ? visit.day - (visit.type.hygiene ? 0 : rng.int(0, 60)) : booked,
        provNum: p.code.hygiene && provHyg !== 0 ? provHyg : member.priProv,
      });
    }
    // An exam turns up new work now and then: treatment planned, not yet scheduled.
    if (complete && rng.chance(0.15)) {
      const found = proc(
        rng,
        rng.weighted<string>([
          ['D2391', 45],
          ['D2392', 35],
          ['D2740', 15],
          ['D3330', 5],
        ]),
      );
      addProcedure(g, member, clinic, found, {
        aptNum: 0,
        plannedAptNum: 0,
        complete: false,
        day: visit.day,
        tpDay: visit.day,
        provNum: member.priProv,
      });
    }
  }
}

interface ProcContext {
  readonly aptNum: number;
  readonly plannedAptNum: number;
  readonly complete: boolean;
  readonly day: number;
  readonly tpDay: number;
  readonly provNum: number;
}

function addProcedure(
  g: Generation,
  member: Member,
  clinic: ClinicPlan,
  p: PlannedProc,
  ctx: ProcContext,
): void {
  const entered = ctx.complete ? ctx.day : ctx.tpDay;
  g.add('procedurelog', {
    ProcNum: g.nextProcNum++,
    PatNum: member.patNum,
    AptNum: ctx.aptNum,
    ProcDate: dayText(ctx.day),
    ProcFee: p.code.fee,
    Surf: p.surface,
    ToothNum: p.tooth,
    ProcStatus: ctx.complete ? PROC_STATUS.Complete : PROC_STATUS.TreatmentPlanned,
    ProvNum: ctx.provNum,
    PlannedAptNum: ctx.plannedAptNum,
    PlaceService: 0,
    DateEntryC: ctx.complete ? dayText(ctx.day) : NO_DATE,
    ClinicNum: clinic.num,
    CodeNum: CODE_NUM[p.code.code] as number,
    UnitQty: 1,
    DateTP: dayText(Math.min(ctx.tpDay, ctx.day)),
    SecDateEntry: dateTimeText(entered, OFFICE_OPENS + 5 * g.rng.int(0, 119)),
    DateComplete: ctx.complete ? dayText(ctx.day) : NO_DATE,
  });
}

function positiveInteger(value: number, name: string, min: number): number {
  if (!Number.isInteger(value) || value < min)
    throw seedError(`${name} must be an integer of at least ${min}`, { option: name });
  return value;
}

/**
 * Fills an Open Dental database (the real schema, or one built from a connector's declarations)
 * with a realistic, deterministic practice: definitions, clinics, providers, operatories,
 * appointment types, CDT procedure codes, carriers and plans, then families of patients with
 * insurance, a year of appointments (9 months back, 3 ahead) and their procedures.
 *
 * - Deterministic: keys are assigned 1..N and every value comes from a seeded stream, so the same
 *   seed and the same UTC day of `now` give byte-identical rows (DB-stamped columns aside). On
 *   another day the families, their sizes and every patient's status (deleted included) stay the
 *   same: each family draws from a stream of its own, statuses first.
 * - Streaming: rows are generated family by family and written as multi-row parameterised INSERTs
 *   on one pinned connection (SQLite: inside one transaction); memory stays flat for 1M patients.
 * - Only columns the target table has are written (INFORMATION_SCHEMA / PRAGMA table_info), and
 *   tables the database lacks are skipped and listed in `missingTables`.
 * - Refuses (TENDRIL_E_SEED) to write into tables that already hold rows, since its keys would clash.
 */
export async function seedOpenDental(knex: Knex, options: SeedOpenDentalOptions): Promise<SeedSummary> {
  const started = Date.now();
  const patients = positiveInteger(options.patients, 'patients', 1);
  const batchSize = positiveInteger(options.batchSize ?? 2000, 'batchSize', 1);
  const clinicCount = positiveInteger(options.clinics ?? 2, 'clinics', 0);
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
  const seed = options.seed ?? DEFAULT_SEED;

  const session = await InsertSession.start(knex, options.dialect);
  let success = false;
  let disabledKeys: string[] = [];
  try {
    const missing: OpenDentalSeedTable[] = [];
    const writers = {} as Record<OpenDentalSeedTable, BatchWriter<Record<string, SqlValue>>>;
    for (const table of OPEN_DENTAL_SEED_TABLES) {
      const present = await session.columnsOf(table);
      if (present === undefined) missing.push(table);
      else if (!(await session.isEmpty(table))) {
        throw seedError(
          `table ${table} already has rows; seed an empty database (or drop the Open Dental tables first)`,
          { table },
        );
      }
      const stamp = STAMP_COLUMN[table];
      const generated: string[] = [...COLUMNS[table]];
      if (options.stamp !== undefined && stamp !== undefined) generated.push(stamp);
      writers[table] = new BatchWriter(session, table, generated, present, batchSize);
    }
    if (missing.includes('patient')) {
      throw seedError(
        'the database has no patient table; create the tables first (tendril seed creates them from the connector declarations)',
        {
          table: 'patient',
        },
      );
    }

    const present = OPEN_DENTAL_SEED_TABLES.filter((t) => !missing.includes(t));
    disabledKeys = await session.disableKeys(present);

    const g = new Generation(new Random(seed), writers, now, options.stamp);
    const ref = buildReference(g, patients, clinicCount);
    for (const table of OPEN_DENTAL_SEED_TABLES) await writers[table].flush();

    // Families draw from their own stream, so reference data can grow without reshuffling them.
    const family = new Generation(g.rng.fork('patients'), g.writers, now, options.stamp);
    const patientWriter = writers.patient;
    let patNum = 1;
    while (patNum <= patients) {
      patNum += generateFamily(family, ref, patNum, patients);
      const patientBatchDone = patientWriter.hasPending;
      for (const table of OPEN_DENTAL_SEED_TABLES)
        if (writers[table].hasPending) await writers[table].drain();
      if (patientBatchDone) options.onProgress?.(patNum - 1, patients);
    }
    for (const table of OPEN_DENTAL_SEED_TABLES) await writers[table].flush();
    await session.settle();
    await session.enableKeys(disabledKeys);
    disabledKeys = [];
    options.onProgress?.(patients, patients);

    const rows = Object.fromEntries(OPEN_DENTAL_SEED_TABLES.map((t) => [t, writers[t].written])) as Record<
      OpenDentalSeedTable,
      number
    >;
    success = true;
    return { seed: String(seed), patients, rows, missingTables: missing, durationMs: Date.now() - started };
  } finally {
    // After a failure, still give the tables their indexes back.
    if (disabledKeys.length > 0) {
      await session.settle().catch(() => undefined);
      await session.enableKeys(disabledKeys).catch(() => undefined);
    }
    await session.end(success);
  }
}
