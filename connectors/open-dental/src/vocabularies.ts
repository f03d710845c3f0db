/**
 * Open Dental's enums and code systems, as data. Every numeric value here is taken from the
 * official schema documentation (`OpenDentalDocumentation-24.3.xml`, the `<Enumeration>` of the
 * column named in each comment), so a reviewer can check them line by line.
 */
import type { Appointment, Patient } from '@tendril/core';

/** Code systems the connector writes (docs/standard-model.md, "Conventions"). */
export const SYSTEMS = {
  cdt: 'http://www.ada.org/cdt',
  npi: 'http://hl7.org/fhir/sid/us-npi',
  bcp47: 'urn:ietf:bcp:47',
  chartNumber: 'urn:tendril:open-dental:chart-number',
  stateLicense: 'urn:tendril:open-dental:state-license',
  /** `provider.NationalProvID` values that are not a US NPI (the column also holds Canadian CDA numbers). */
  nationalProviderId: 'urn:tendril:open-dental:national-prov-id',
} as const;

/** Lookup names of vendor codings (`urn:tendril:open-dental[:<connectionId>]:<lookup>`). */
export const LOOKUPS = {
  patStatus: 'pat-status',
  aptStatus: 'apt-status',
  language: 'language',
  /** `provider.Specialty` → `definition.DefNum` (DefCat 35 ProviderSpecialties): per site. */
  specialty: 'specialty',
  /** `appointmenttype.AppointmentTypeNum`: per site. */
  appointmentType: 'appointment-type',
  /** `procedurecode.ProcCode` values that are not CDT (custom and medical codes): per site. */
  procedureCode: 'procedure-code',
} as const;

/** `patient.PatStatus`, enum PatientStatus. */
export const PAT_STATUS = {
  0: 'Patient',
  1: 'NonPatient',
  2: 'Inactive',
  3: 'Archived',
  4: 'Deleted',
  5: 'Deceased',
  /** "Not an actual patient yet." */
  6: 'Prospective',
} as const;
export const PAT_STATUS_DELETED = 4;
export const PAT_STATUS_DECEASED = 5;

/**
 * `Patient.active` per PatStatus. Prospective (6) is a record in active use (Web Sched creates
 * them for new patients who booked) so it is active; its nuance stays in `sourceStatus`. Deleted
 * (4) never gets here: it is mapped as a delete.
 */
export const PATIENT_ACTIVE: Readonly<Record<number, boolean>> = {
  0: true,
  1: false,
  2: false,
  3: false,
  5: false,
  6: true,
};

/** `patient.Gender`, enum PatientGender (2 Unknown is HL7 "undifferentiated", FHIR `unknown`). */
export const GENDER: Readonly<Record<number, NonNullable<Patient['gender']>>> = {
  0: 'male',
  1: 'female',
  2: 'unknown',
  3: 'other',
};

/** `appointment.AptStatus`, enum ApptStatus. */
export const APT_STATUS = {
  /** "No appointment should ever have this status." */
  0: 'None',
  1: 'Scheduled',
  2: 'Complete',
  3: 'UnschedList',
  /** "Deprecated in 17.4.1. Use Appointment.Priority instead." */
  4: 'ASAP',
  5: 'Broken',
  /** Only shows in the Chart module; copied when scheduled. */
  6: 'Planned',
  /** A patient "post-it" note on the schedule. */
  7: 'PtNote',
  8: 'PtNoteCompleted',
} as const;

/**
 * AptStatus values that are not appointments at all: planned appointments are templates, notes are
 * post-its, and 0 "should never" occur. Rows with them are treated as absent (never emitted).
 */
export const APT_STATUS_NOT_APPOINTMENT = [0, 6, 7, 8] as const;

/** Statuses that are appointments, with their meaning fixed or chosen by an option. */
export type AppointmentAptStatus = 1 | 2 | 3 | 4 | 5;

/** How a broken appointment (AptStatus 5) is reported: the connection option `brokenAppointmentStatus`. */
export const BROKEN_APPOINTMENT_STATUSES = ['cancelled', 'noshow'] as const;
export type BrokenAppointmentStatus = (typeof BROKEN_APPOINTMENT_STATUSES)[number];

/**
 * Appointment.status from AptStatus.
 * - 1 Scheduled → `booked`, or `arrived` once the patient checked in (`DateTimeArrived` set).
 * - 2 Complete → `fulfilled`; 3 UnschedList → `waitlist` (on the unscheduled list, no slot).
 * - 4 ASAP → `booked`: the status was retired in 17.4.1 in favour of `Priority` = ASAP on a
 *   scheduled appointment, so a leftover 4 is a scheduled appointment the office wants earlier.
 * - 5 Broken → the connection's choice (`cancelled` by default, or `noshow`).
 */
export function appointmentStatus(
  aptStatus: AppointmentAptStatus,
  arrived: boolean,
  broken: BrokenAppointmentStatus,
): Appointment['status'] {
  switch (aptStatus) {
    case 1:
      return arrived ? 'arrived' : 'booked';
    case 2:
      return 'fulfilled';
    case 3:
      return 'waitlist';
    case 4:
      return arrived ? 'arrived' : 'booked';
    case 5:
      return broken;
    default:
      return aptStatus satisfies never;
  }
}

/** `procedurelog.ProcStatus`, enum ProcStat. */
export const PROC_STATUS = {
  1: 'TP',
  2: 'C',
  3: 'EC',
  4: 'EO',
  5: 'R',
  6: 'D',
  7: 'Cn',
  8: 'TPi',
} as const;
export const PROC_STATUS_DELETED = 6;
/** Cn "Condition": a charted finding (caries, missing tooth), not a procedure. Treated as absent. */
export const PROC_STATUS_CONDITION = 7;

/**
 * Procedure.status from ProcStatus (6 D is a delete and 7 Cn is absent, so neither is listed).
 * - 1 TP (treatment plan) and 8 TPi (treatment plan inactive) → `preparation` (planned).
 * - 2 C (complete) → `completed`.
 * - 3 EC / 4 EO (existing work by this or another provider, charted for history) → `completed`:
 *   the work was done, just not billed here.
 * - 5 R (referred out) → `not-done`: this office did not and will not perform it.
 */
export const PROCEDURE_STATUS = {
  1: 'preparation',
  2: 'completed',
  3: 'completed',
  4: 'completed',
  5: 'not-done',
  8: 'preparation',
} as const;

/** Statuses whose work was performed, so `ProcDate` is the date performed. */
export const PROC_STATUS_PERFORMED = [2, 3, 4] as const;

/**
 * Statuses that are charges on the patient ledger. Only C (2): Open Dental's account module and
 * production reports count `ProcStatus = C` procedures, at `ProcFee × (UnitQty + BaseUnits)`.
 * EC and EO record existing work and never reach the ledger.
 */
export const PROC_STATUS_CHARGED = [2] as const;

/** `procedurecode.TreatArea`, enum TreatmentArea: only 1 (Surf) makes `Surf` hold surfaces. */
export const TREAT_AREA_SURFACE = 1;

/** Tooth surfaces of the model. Open Dental's `V` (class V, facial cervical) has no model code and is dropped. */
export const SURFACES = ['M', 'O', 'D', 'B', 'F', 'L', 'I'] as const;

/**
 * `patplan.Relationship`, enum Relat → Coverage.relationship. The model has four codes, so a
 * life partner (7, FHIR would say `common`), a handicapped dependent (4), a dependent (8) and the
 * rest are `other`.
 */
export const RELATIONSHIP = {
  0: 'self',
  1: 'spouse',
  2: 'child',
  3: 'other',
  4: 'other',
  5: 'other',
  6: 'other',
  7: 'other',
  8: 'other',
} as const;

/**
 * `patient.Language` → BCP 47. Open Dental stores the ISO 639-2 three-letter code ("eng", "spa",
 * "fra") or free text for a custom language. BCP 47 uses the ISO 639-1 two-letter code where one
 * exists, so both the terminology (T) and bibliographic (B) forms are listed. A fixed table rather
 * than the runtime's ICU data, so a Node upgrade never changes a hash. Values not listed stay a
 * vendor coding; to support another language, add a line.
 */
export const LANGUAGES: Readonly<Record<string, string>> = {
  alb: 'sq',
  sqi: 'sq',
  amh: 'am',
  ara: 'ar',
  arm: 'hy',
  hye: 'hy',
  aze: 'az',
  baq: 'eu',
  eus: 'eu',
  ben: 'bn',
  bos: 'bs',
  bul: 'bg',
  bur: 'my',
  mya: 'my',
  cat: 'ca',
  chi: 'zh',
  zho: 'zh',
  chr: 'chr',
  cze: 'cs',
  ces: 'cs',
  dan: 'da',
  dut: 'nl',
  nld: 'nl',
  eng: 'en',
  est: 'et',
  fil: 'fil',
  fin: 'fi',
  fre: 'fr',
  fra: 'fr',
  geo: 'ka',
  kat: 'ka',
  ger: 'de',
  deu: 'de',
  gle: 'ga',
  gre: 'el',
  ell: 'el',
  guj: 'gu',
  hat: 'ht',
  hau: 'ha',
  haw: 'haw',
  heb: 'he',
  hin: 'hi',
  hmn: 'hmn',
  hrv: 'hr',
  hun: 'hu',
  ibo: 'ig',
  ice: 'is',
  isl: 'is',
  ind: 'id',
  ita: 'it',
  jpn: 'ja',
  kaz: 'kk',
  khm: 'km',
  kor: 'ko',
  kur: 'ku',
  lao: 'lo',
  lav: 'lv',
  lit: 'lt',
  mac: 'mk',
  mkd: 'mk',
  mar: 'mr',
  may: 'ms',
  msa: 'ms',
  mon: 'mn',
  nav: 'nv',
  nep: 'ne',
  nob: 'nb',
  nor: 'no',
  pan: 'pa',
  per: 'fa',
  fas: 'fa',
  pol: 'pl',
  por: 'pt',
  pus: 'ps',
  rum: 'ro',
  ron: 'ro',
  rus: 'ru',
  sin: 'si',
  slo: 'sk',
  slk: 'sk',
  slv: 'sl',
  smo: 'sm',
  som: 'so',
  spa: 'es',
  srp: 'sr',
  swa: 'sw',
  swe: 'sv',
  tam: 'ta',
  tel: 'te',
  tgl: 'tl',
  tha: 'th',
  tir: 'ti',
  ton: 'to',
  tur: 'tr',
  ukr: 'uk',
  urd: 'ur',
  uzb: 'uz',
  vie: 'vi',
  wel: 'cy',
  cym: 'cy',
  yid: 'yi',
  yor: 'yo',
  yue: 'yue',
};

/**
 * `clinic.TimeZone` holds the id Open Dental's .NET code gets from `TimeZoneInfo`, which on Windows
 * is a Windows zone name. These are the North American ones, mapped to IANA as CLDR's
 * `windowsZones.xml` does (territory 001).
 */
export const WINDOWS_TIME_ZONES: Readonly<Record<string, string>> = {
  'Eastern Standard Time': 'America/New_York',
  'US Eastern Standard Time': 'America/Indiana/Indianapolis',
  'Central Standard Time': 'America/Chicago',
  'Canada Central Standard Time': 'America/Regina',
  'Mountain Standard Time': 'America/Denver',
  'US Mountain Standard Time': 'America/Phoenix',
  'Pacific Standard Time': 'America/Los_Angeles',
  'Alaskan Standard Time': 'America/Anchorage',
  'Aleutian Standard Time': 'America/Adak',
  'Hawaiian Standard Time': 'Pacific/Honolulu',
  'Atlantic Standard Time': 'America/Halifax',
  'Newfoundland Standard Time': 'America/St_Johns',
};

/** `deletedobject.ObjectType`, enum DeletedObjectType: 0 Appointment (1 ScheduleProv, 2 RecallPatNum…). */
export const DELETED_OBJECT_TYPE_APPOINTMENT = 0;

/** `insplan.IsMedical` → Coverage.type. */
export const COVERAGE_TYPE = { 0: 'dental', 1: 'medical' } as const;
