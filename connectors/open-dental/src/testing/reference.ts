/**
 * Reference data an Open Dental office has before its first patient: definitions, procedure codes,
 * appointment types, carriers. Values follow the enums in Open Dental's schema documentation
 * (fixtures/opendental/OpenDentalDocumentation-24.3.xml): DefCat, TreatmentArea, AptStatus…
 *
 * CDT codes and their descriptors are the American Dental Association's; the few listed here are
 * the everyday ones every US practice uses, with the descriptors Open Dental shows.
 */

/** `definition.Category` values (enum DefCat). */
export const DEF_CAT = {
  ApptConfirmed: 2,
  BillingTypes: 4,
  ProcCodeCats: 11,
  RecallUnschedStatus: 13,
  ProviderSpecialties: 35,
} as const;

/** `procedurecode.TreatArea` values (enum TreatmentArea). */
export const TREAT_AREA = { Surf: 1, Tooth: 2, Mouth: 3, Quad: 4 } as const;

/** `appointment.AptStatus` values. */
export const APT_STATUS = { Scheduled: 1, Complete: 2, UnschedList: 3, Broken: 5, Planned: 6 } as const;

/** `procedurelog.ProcStatus` values. */
export const PROC_STATUS = { TreatmentPlanned: 1, Complete: 2 } as const;

export const DEFINITIONS: readonly (readonly [category: number, name: string, key: string])[] = [
  [DEF_CAT.ApptConfirmed, 'Not Called', 'confirm.notCalled'],
  [DEF_CAT.ApptConfirmed, 'Unconfirmed', 'confirm.unconfirmed'],
  [DEF_CAT.ApptConfirmed, 'Appointment Confirmed', 'confirm.confirmed'],
  [DEF_CAT.ApptConfirmed, 'Left Msg', 'confirm.leftMessage'],
  [DEF_CAT.ApptConfirmed, 'Texted', 'confirm.texted'],
  [DEF_CAT.ApptConfirmed, 'Arrived', 'confirm.arrived'],
  [DEF_CAT.BillingTypes, 'Standard Account', 'billing.standard'],
  [DEF_CAT.BillingTypes, 'Insurance Only', 'billing.insuranceOnly'],
  [DEF_CAT.ProcCodeCats, 'Exams & Xrays', 'cat.diagnostic'],
  [DEF_CAT.ProcCodeCats, 'Cleanings', 'cat.preventive'],
  [DEF_CAT.ProcCodeCats, 'Fillings', 'cat.restorative'],
  [DEF_CAT.ProcCodeCats, 'Crown & Bridge', 'cat.crowns'],
  [DEF_CAT.ProcCodeCats, 'Endo', 'cat.endo'],
  [DEF_CAT.ProcCodeCats, 'Perio', 'cat.perio'],
  [DEF_CAT.ProcCodeCats, 'Oral Surgery', 'cat.surgery'],
  [DEF_CAT.ProcCodeCats, 'Misc', 'cat.misc'],
  [DEF_CAT.RecallUnschedStatus, 'Left Message', 'recall.leftMessage'],
  [DEF_CAT.RecallUnschedStatus, 'Will Call Back', 'recall.willCall'],
  [DEF_CAT.ProviderSpecialties, 'General', 'specialty.general'],
  [DEF_CAT.ProviderSpecialties, 'Hygienist', 'specialty.hygienist'],
];

/** Where on the mouth a code is charted: decides ToothNum and Surf. */
export type ToothSite =
  | 'mouth'
  | 'posterior-one-surface'
  | 'posterior-two-surfaces'
  | 'anterior-one-surface'
  | 'posterior-tooth'
  | 'anterior-tooth'
  | 'molar'
  | 'any-tooth'
  | 'quadrant';

export interface ProcedureCode {
  readonly code: string;
  readonly descript: string;
  readonly abbr: string;
  /** `ProcTime`: X = doctor, / = assistant, 5 minutes a character. */
  readonly time: string;
  readonly category: string;
  readonly treatArea: number;
  readonly site: ToothSite;
  readonly fee: number;
  readonly hygiene: boolean;
}

const M = TREAT_AREA.Mouth;
const S = TREAT_AREA.Surf;
const T = TREAT_AREA.Tooth;
const Q = TREAT_AREA.Quad;

/** CDT codes, in `CodeNum` order (CodeNum = index + 1). Fees are typical US office fees. */
export const PROCEDURE_CODES: readonly ProcedureCode[] = [
  {
    code: 'D0120',
    descript: 'periodic oral evaluation - established patient',
    abbr: 'PerEx',
    time: '/X/',
    category: 'cat.diagnostic',
    treatArea: M,
    site: 'mouth',
    fee: 65,
    hygiene: false,
  },
  {
    code: 'D0140',
    descript: 'limited oral evaluation - problem focused',
    abbr: 'LimEx',
    time: '/X/',
    category: 'cat.diagnostic',
    treatArea: M,
    site: 'mouth',
    fee: 95,
    hygiene: false,
  },
  {
    code: 'D0150',
    descript: 'comprehensive oral evaluation - new or established patient',
    abbr: 'CompEx',
    time: '/XX/',
    category: 'cat.diagnostic',
    treatArea: M,
    site: 'mouth',
    fee: 115,
    hygiene: false,
  },
  {
    code: 'D0210',
    descript: 'intraoral - comprehensive series of radiographic images',
    abbr: 'FMX',
    time: '/XX/',
    category: 'cat.diagnostic',
    treatArea: M,
    site: 'mouth',
    fee: 150,
    hygiene: true,
  },
  {
    code: 'D0220',
    descript: 'intraoral - periapical first radiographic image',
    abbr: 'PA',
    time: '/',
    category: 'cat.diagnostic',
    treatArea: T,
    site: 'any-tooth',
    fee: 35,
    hygiene: false,
  },
  {
    code: 'D0274',
    descript: 'bitewings - four radiographic images',
    abbr: '4BW',
    time: '//',
    category: 'cat.diagnostic',
    treatArea: M,
    site: 'mouth',
    fee: 75,
    hygiene: true,
  },
  {
    code: 'D0330',
    descript: 'panoramic radiographic image',
    abbr: 'Pano',
    time: '//',
    category: 'cat.diagnostic',
    treatArea: M,
    site: 'mouth',
    fee: 125,
    hygiene: true,
  },
  {
    code: 'D1110',
    descript: 'prophylaxis - adult',
    abbr: 'Pro',
    time: '/XXXX/',
    category: 'cat.preventive',
    treatArea: M,
    site: 'mouth',
    fee: 115,
    hygiene: true,
  },
  {
    code: 'D1120',
    descript: 'prophylaxis - child',
    abbr: 'ChPro',
    time: '/XXX/',
    category: 'cat.preventive',
    treatArea: M,
    site: 'mouth',
    fee: 80,
    hygiene: true,
  },
  {
    code: 'D1206',
    descript: 'topical application of fluoride varnish',
    abbr: 'FlVarn',
    time: '/',
    category: 'cat.preventive',
    treatArea: M,
    site: 'mouth',
    fee: 45,
    hygiene: true,
  },
  {
    code: 'D1351',
    descript: 'sealant - per tooth',
    abbr: 'Seal',
    time: '/X',
    category: 'cat.preventive',
    treatArea: T,
    site: 'molar',
    fee: 55,
    hygiene: true,
  },
  {
    code: 'D2140',
    descript: 'amalgam - one surface, primary or permanent',
    abbr: 'A1',
    time: '/XX/',
    category: 'cat.restorative',
    treatArea: S,
    site: 'posterior-one-surface',
    fee: 150,
    hygiene: false,
  },
  {
    code: 'D2330',
    descript: 'resin-based composite - one surface, anterior',
    abbr: 'C1',
    time: '/XX/',
    category: 'cat.restorative',
    treatArea: S,
    site: 'anterior-one-surface',
    fee: 165,
    hygiene: false,
  },
  {
    code: 'D2391',
    descript: 'resin-based composite - one surface, posterior',
    abbr: 'C1(P)',
    time: '/XXX/',
    category: 'cat.restorative',
    treatArea: S,
    site: 'posterior-one-surface',
    fee: 185,
    hygiene: false,
  },
  {
    code: 'D2392',
    descript: 'resin-based composite - two surfaces, posterior',
    abbr: 'C2(P)',
    time: '/XXXX/',
    category: 'cat.restorative',
    treatArea: S,
    site: 'posterior-two-surfaces',
    fee: 235,
    hygiene: false,
  },
  {
    code: 'D2740',
    descript: 'crown - porcelain/ceramic',
    abbr: 'CrnCer',
    time: '//XXXXXX//',
    category: 'cat.crowns',
    treatArea: T,
    site: 'posterior-tooth',
    fee: 1250,
    hygiene: false,
  },
  {
    code: 'D2750',
    descript: 'crown - porcelain fused to high noble metal',
    abbr: 'PFM',
    time: '//XXXXXX//',
    category: 'cat.crowns',
    treatArea: T,
    site: 'posterior-tooth',
    fee: 1175,
    hygiene: false,
  },
  {
    code: 'D2950',
    descript: 'core buildup, including any pins when required',
    abbr: 'BU',
    time: '/XX',
    category: 'cat.crowns',
    treatArea: T,
    site: 'posterior-tooth',
    fee: 285,
    hygiene: false,
  },
  {
    code: 'D3310',
    descript: 'endodontic therapy, anterior tooth (excluding final restoration)',
    abbr: 'RCTAnt',
    time: '/XXXXXXXX/',
    category: 'cat.endo',
    treatArea: T,
    site: 'anterior-tooth',
    fee: 850,
    hygiene: false,
  },
  {
    code: 'D3330',
    descript: 'endodontic therapy, molar tooth (excluding final restoration)',
    abbr: 'RCTMol',
    time: '/XXXXXXXXXXXX/',
    category: 'cat.endo',
    treatArea: T,
    site: 'molar',
    fee: 1150,
    hygiene: false,
  },
  {
    code: 'D4341',
    descript: 'periodontal scaling and root planing - four or more teeth per quadrant',
    abbr: 'SRP4+',
    time: '/XXXXX/',
    category: 'cat.perio',
    treatArea: Q,
    site: 'quadrant',
    fee: 265,
    hygiene: true,
  },
  {
    code: 'D4342',
    descript: 'periodontal scaling and root planing - one to three teeth per quadrant',
    abbr: 'SRP1-3',
    time: '/XXXX/',
    category: 'cat.perio',
    treatArea: Q,
    site: 'quadrant',
    fee: 190,
    hygiene: true,
  },
  {
    code: 'D4910',
    descript: 'periodontal maintenance',
    abbr: 'PerioMaint',
    time: '/XXXXXX/',
    category: 'cat.perio',
    treatArea: M,
    site: 'mouth',
    fee: 160,
    hygiene: true,
  },
  {
    code: 'D7140',
    descript: 'extraction, erupted tooth or exposed root (elevation and/or forceps removal)',
    abbr: 'Ext',
    time: '/XXX/',
    category: 'cat.surgery',
    treatArea: T,
    site: 'any-tooth',
    fee: 195,
    hygiene: false,
  },
  {
    code: 'D7210',
    descript:
      'extraction, erupted tooth requiring removal of bone and/or sectioning of tooth, and including elevation of mucoperiosteal flap if indicated',
    abbr: 'SurgExt',
    time: '/XXXXX/',
    category: 'cat.surgery',
    treatArea: T,
    site: 'molar',
    fee: 325,
    hygiene: false,
  },
  {
    code: 'D9110',
    descript: 'palliative treatment of dental pain - per visit',
    abbr: 'Palliative',
    time: '/X/',
    category: 'cat.misc',
    treatArea: M,
    site: 'mouth',
    fee: 110,
    hygiene: false,
  },
];

export const CODE_NUM: Readonly<Record<string, number>> = Object.fromEntries(
  PROCEDURE_CODES.map((c, i) => [c.code, i + 1]),
);

/** Kinds of visit: one appointment type each. */
export const VISIT_KINDS = [
  'recall',
  'new-patient',
  'perio-maintenance',
  'scaling',
  'restorative',
  'crown',
  'root-canal',
  'extraction',
  'emergency',
] as const;
export type VisitKind = (typeof VISIT_KINDS)[number];

export interface AppointmentType {
  readonly kind: VisitKind;
  readonly name: string;
  /** RGB, stored as a .NET ARGB int like Open Dental does. */
  readonly color: number;
  readonly pattern: string;
  readonly codes: readonly string[];
  readonly hygiene: boolean;
  readonly weight: number;
}

/** Appointment types in `AppointmentTypeNum` order (index + 1), with how often each is booked. */
export const APPOINTMENT_TYPES: readonly AppointmentType[] = [
  {
    kind: 'recall',
    name: 'Recall',
    color: 0x80c080,
    pattern: '//XXXXXXXX//',
    codes: ['D0120', 'D1110', 'D0274'],
    hygiene: true,
    weight: 46,
  },
  {
    kind: 'new-patient',
    name: 'New Patient',
    color: 0x8080ff,
    pattern: '//XXXXXXXXXXXXXX//',
    codes: ['D0150', 'D0210', 'D1110'],
    hygiene: true,
    weight: 7,
  },
  {
    kind: 'perio-maintenance',
    name: 'Perio Maintenance',
    color: 0x40a0a0,
    pattern: '//XXXXXXXX//',
    codes: ['D4910', 'D0120'],
    hygiene: true,
    weight: 8,
  },
  {
    kind: 'scaling',
    name: 'Scaling & Root Planing',
    color: 0x2080a0,
    pattern: '//XXXXXXXXXXXXXX//',
    codes: ['D4341'],
    hygiene: true,
    weight: 3,
  },
  {
    kind: 'restorative',
    name: 'Restorative',
    color: 0xffc080,
    pattern: '/XXXXXXXX/',
    codes: ['D2391', 'D2392'],
    hygiene: false,
    weight: 18,
  },
  {
    kind: 'crown',
    name: 'Crown Prep',
    color: 0xffa040,
    pattern: '//XXXXXXXXXXXXXX//',
    codes: ['D2740', 'D2950'],
    hygiene: false,
    weight: 6,
  },
  {
    kind: 'root-canal',
    name: 'Root Canal',
    color: 0xc08040,
    pattern: '//XXXXXXXXXXXXXX//',
    codes: ['D3330'],
    hygiene: false,
    weight: 3,
  },
  {
    kind: 'extraction',
    name: 'Extraction',
    color: 0xc04040,
    pattern: '/XXXXXX/',
    codes: ['D7140'],
    hygiene: false,
    weight: 4,
  },
  {
    kind: 'emergency',
    name: 'Emergency',
    color: 0xff4040,
    pattern: '/XXXX/',
    codes: ['D0140', 'D0220'],
    hygiene: false,
    weight: 5,
  },
];

/** A .NET `Color.ToArgb()` value for an opaque RGB colour (negative, as Open Dental stores it). */
export function argb(rgb: number): number {
  return 0xff000000 | rgb | 0;
}

/** Dental carriers with their common electronic payer IDs (illustrative). */
export const CARRIERS: readonly (readonly [name: string, electId: string])[] = [
  ['Delta Dental', '77777'],
  ['MetLife', '65978'],
  ['Cigna Dental', '62308'],
  ['Aetna Dental', '60054'],
  ['Guardian', '64246'],
  ['Humana Dental', '73288'],
  ['Ameritas', '47009'],
  ['Principal Financial Group', '61271'],
  ['United Concordia', 'CX014'],
  ['UnitedHealthcare Dental', '52133'],
];

/** Fictional employers, for insurance group names. */
export const EMPLOYERS = [
  'Acme Manufacturing',
  'Cascade Health Systems',
  'Riverside School District',
  'Summit Logistics',
  'Evergreen Credit Union',
  'Pioneer Software',
  'Northwest Builders',
  'Harbor Foods',
  'Columbia Energy',
  'Metro Transit',
  'Blue Heron Hotels',
  'Granite State Bank',
  'Willamette Paper',
  'Redwood Retail',
  'Silver Creek Farms',
  'Bright Path Academy',
  'Ironwood Engineering',
  'Coastal Freight',
  'Sunrise Senior Living',
  'Keystone Insurance Agency',
] as const;

export const CLINIC_NAMES = [
  'Riverside Family Dentistry',
  'Hillcrest Dental Care',
  'Lakeview Dental Group',
  'Maple Street Dental',
  'Cedar Park Smiles',
  'Oak Grove Dental',
  'Westside Dental Arts',
  'Northgate Family Dental',
] as const;

export const NICKNAMES: Readonly<Record<string, string>> = {
  William: 'Bill',
  Robert: 'Bob',
  Richard: 'Rick',
  James: 'Jim',
  Michael: 'Mike',
  Thomas: 'Tom',
  Joseph: 'Joe',
  Daniel: 'Dan',
  Christopher: 'Chris',
  Anthony: 'Tony',
  Elizabeth: 'Liz',
  Katherine: 'Kate',
  Jennifer: 'Jen',
  Margaret: 'Maggie',
  Patricia: 'Pat',
  Deborah: 'Debbie',
  Samantha: 'Sam',
  Victoria: 'Vicky',
  Rebecca: 'Becky',
};

export const APPOINTMENT_NOTES = [
  'Prefers morning appointments',
  'Call cell phone first',
  'Anxious patient, allow extra time',
  'Premedicate before treatment',
  'Running late, called ahead',
] as const;
