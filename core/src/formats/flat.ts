import type { ChangeKind } from '../classify.js';
import { TendrilError } from '../errors.js';
import type { StoredEvent } from '../events.js';
import type { ReferenceSourceIds } from '../mapping.js';
import type {
  Address,
  Appointment,
  AppointmentType,
  ChargeItem,
  CodeableConcept,
  Coding,
  Condition,
  ContactPoint,
  Coverage,
  Encounter,
  HumanName,
  Location,
  Money,
  Organization,
  Patient,
  Payment,
  Practitioner,
  Procedure,
} from '../model/index.js';

/** Options of the `flat` format. */
export interface FlatOptions {
  /**
   * Healthjump `client_id` of the connection (docs/standard-model.md, "Output formats", `flat` rule 6);
   * defaults to `connectionId`.
   */
  readonly clientId?: string;
  /**
   * Fill the `ssn` column. Off by default: SSNs leave the agent only on request (docs/standard-model.md,
   * "Conventions").
   */
  readonly exportSsn?: boolean;
}

/** A Healthjump-compatible webhook body: one element, a header line and one row. */
export interface FlatEvent {
  readonly element: FlatElement;
  readonly data: string;
}

const NAME_COLUMNS = ['first_name', 'middle_name', 'last_name', 'prefix', 'suffix'] as const;
const ADDRESS_COLUMNS = ['address_line_1', 'address_line_2', 'city', 'state', 'zip'] as const;
const LOCATION_FIELDS = [
  'name',
  ...ADDRESS_COLUMNS,
  'phone_number',
  'email',
  'timezone',
  'part_of_id',
  'organization_id',
  'status',
  'bookable',
] as const;
const ORGANIZATION_FIELDS = ['name', 'phone_number', 'email', ...ADDRESS_COLUMNS] as const;

/**
 * Column lists of every `flat` element, version 1. Frozen: a receiver parses by position, so a
 * column is never moved or renamed within a version; a change means a new element version.
 *
 * `demographic` is Healthjump's own layout (docs/standard-model.md, "Output formats"). The others
 * follow `flat` rule 5: `client_id`, `client_<element>_id`, `<element>_uuid`, then the resource fields ("Resource fields") in
 * order in snake_case (Coding → `_code` + `_system`, reference → `<role>_id`, Period → `_start` + `_end`,
 * first array value only; a HumanName, an Address and a ContactPoint list use the `demographic` column
 * names), then `event_type`.
 */
export const FLAT_COLUMNS = Object.freeze({
  demographic: [
    'client_id',
    'client_patient_id',
    'first_name',
    'middle_name',
    'last_name',
    'prefix',
    'suffix',
    'ssn',
    'dob',
    'other_id',
    'account_id',
    'gender',
    'race',
    'ethnicity',
    'primary_language',
    'phone_number',
    'phone_ext',
    'phone_type',
    'second_number',
    'second_ext',
    'second_type',
    'first_email',
    'second_email',
    'death_indication',
    'death_date',
    'address_type',
    'address_line_1',
    'address_line_2',
    'city',
    'state',
    'zip',
    'pcp_id',
    'event_type',
  ],
  practice: [
    'client_id',
    'client_practice_id',
    'practice_uuid',
    ...ORGANIZATION_FIELDS,
    'active',
    'event_type',
  ],
  payer: [
    'client_id',
    'client_payer_id',
    'payer_uuid',
    ...ORGANIZATION_FIELDS,
    'payer_electronic_id',
    'active',
    'event_type',
  ],
  location: ['client_id', 'client_location_id', 'location_uuid', ...LOCATION_FIELDS, 'event_type'],
  operatory: ['client_id', 'client_operatory_id', 'operatory_uuid', ...LOCATION_FIELDS, 'event_type'],
  provider: [
    'client_id',
    'client_provider_id',
    'provider_uuid',
    ...NAME_COLUMNS,
    'phone_number',
    'email',
    'npi',
    'tin',
    'active',
    'specialty_code',
    'specialty_system',
    'is_hygienist',
    'location_id',
    'event_type',
  ],
  appointment: [
    'client_id',
    'client_appointment_id',
    'appointment_uuid',
    'status',
    'source_status_code',
    'source_status_system',
    'start',
    'end',
    'minutes_duration',
    'patient_id',
    'practitioner_id',
    'location_id',
    'operatory_id',
    'appointment_type_id',
    'appointment_type_code',
    'appointment_type_system',
    'procedure_code',
    'procedure_system',
    'confirmed',
    'confirmed_at',
    'checked_in_at',
    'checked_out_at',
    'cancellation_reason',
    'note',
    'is_new_patient',
    'created_at',
    'event_type',
  ],
  appointment_type: [
    'client_id',
    'client_appointment_type_id',
    'appointment_type_uuid',
    'name',
    'duration_minutes',
    'coding_code',
    'coding_system',
    'active',
    'event_type',
  ],
  encounter: [
    'client_id',
    'client_encounter_id',
    'encounter_uuid',
    'status',
    'class_code',
    'class_system',
    'type_code',
    'type_system',
    'patient_id',
    'practitioner_id',
    'location_id',
    'appointment_id',
    'period_start',
    'period_end',
    'reason_code_code',
    'reason_code_system',
    'condition_id',
    'event_type',
  ],
  diagnosis: [
    'client_id',
    'client_diagnosis_id',
    'diagnosis_uuid',
    'clinical_status',
    'verification_status',
    'category',
    'code_code',
    'code_system',
    'patient_id',
    'encounter_id',
    'onset_date',
    'abatement_date',
    'recorded_date',
    'event_type',
  ],
  procedure: [
    'client_id',
    'client_procedure_id',
    'procedure_uuid',
    'status',
    'code_code',
    'code_system',
    'patient_id',
    'encounter_id',
    'appointment_id',
    'practitioner_id',
    'location_id',
    'performed_date',
    'tooth',
    'surface',
    'fee',
    'event_type',
  ],
  charge: [
    'client_id',
    'client_charge_id',
    'charge_uuid',
    'status',
    'code_code',
    'code_system',
    'patient_id',
    'encounter_id',
    'procedure_id',
    'practitioner_id',
    'location_id',
    'occurrence_date',
    'entered_date',
    'quantity',
    'unit_price',
    'total_price',
    'diagnosis_id',
    'guarantor_id',
    'event_type',
  ],
  insurance: [
    'client_id',
    'client_insurance_id',
    'insurance_uuid',
    'status',
    'type',
    'beneficiary_id',
    'subscriber_id',
    'subscriber_patient_id',
    'relationship',
    'order',
    'period_start',
    'period_end',
    'payor_id',
    'payor_name',
    'group_number',
    'group_name',
    'plan_name',
    'payer_electronic_id',
    'event_type',
  ],
  payment: [
    'client_id',
    'client_payment_id',
    'payment_uuid',
    'status',
    'payer_type',
    'patient_id',
    'guarantor_id',
    'practitioner_id',
    'location_id',
    'date',
    'entered_date',
    'amount',
    'source_type_code',
    'source_type_system',
    'event_type',
  ],
} as const);

/** Version of {@link FLAT_COLUMNS}; bump it (and document the change) when any column list changes. */
export const FLAT_COLUMNS_VERSION = 1;

/** Names of the `flat` elements (docs/standard-model.md, "Resources"). */
export type FlatElement = keyof typeof FLAT_COLUMNS;
/** The columns of one element. */
export type FlatColumn<E extends FlatElement> = (typeof FLAT_COLUMNS)[E][number];
type Row<E extends FlatElement> = Partial<Record<FlatColumn<E>, string | undefined>>;

/** `event_type` values: Healthjump knows New and Updated; Deleted is Tendril's addition. */
export const FLAT_EVENT_TYPES = {
  created: 'New',
  updated: 'Updated',
  deleted: 'Deleted',
} as const satisfies Record<ChangeKind, string>;

/**
 * Escapes one field (`flat` rule 2, docs/standard-model.md, "Output formats"). Backslash first, so the
 * escapes added afterwards are not escaped again.
 */
export function escapeFlatField(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

const yn = (v: boolean | undefined) => (v === undefined ? undefined : v ? 'Y' : 'N');
const amount = (m: Money | undefined) => (m === undefined ? undefined : m.value.toFixed(2));
const num = (n: number | undefined) => (n === undefined ? undefined : String(n));
const first = <T>(list: readonly T[] | undefined): T | undefined => list?.[0];

/** The first source id of a reference field (`patientId`, `practitionerIds`) — never the Tendril id. */
function sourceRef(refs: ReferenceSourceIds, field: string): string | undefined {
  const value = refs[field];
  return Array.isArray(value) ? value[0] : value;
}

function codingColumns<P extends string>(prefix: P, c: Coding | CodeableConcept | undefined) {
  const coding = c === undefined ? undefined : 'coding' in c ? c.coding[0] : c;
  return { [`${prefix}_code`]: coding?.code, [`${prefix}_system`]: coding?.system } as Record<
    `${P}_code` | `${P}_system`,
    string | undefined
  >;
}

function nameColumns(name: HumanName | undefined) {
  const given = name?.given ?? [];
  return {
    first_name: given[0],
    middle_name: given.length > 1 ? given.slice(1).join(' ') : undefined,
    last_name: name?.family,
    prefix: first(name?.prefix),
    suffix: first(name?.suffix),
  };
}

function addressColumns(a: Address | undefined) {
  return {
    address_line_1: a?.line[0],
    address_line_2: a?.line[1],
    city: a?.city,
    state: a?.state,
    zip: a?.postalCode,
  };
}

/** Contact points of one system by `rank` (unranked last), source order among equals. */
function byRank(
  telecom: readonly ContactPoint[] | undefined,
  system: ContactPoint['system'],
): ContactPoint[] {
  return (telecom ?? [])
    .map((cp, index) => ({ cp, index }))
    .filter(({ cp }) => cp.system === system)
    .sort((a, b) => (a.cp.rank ?? Infinity) - (b.cp.rank ?? Infinity) || a.index - b.index)
    .map(({ cp }) => cp);
}

function contactColumns(telecom: readonly ContactPoint[] | undefined) {
  return { phone_number: byRank(telecom, 'phone')[0]?.value, email: byRank(telecom, 'email')[0]?.value };
}

const GENDER = { male: 'M', female: 'F', other: 'O', unknown: 'U' } as const;
const PHONE_TYPE = { home: 'H', work: 'W', mobile: 'M' } as const;

function demographic(p: Patient, refs: ReferenceSourceIds, options: FlatOptions): Row<'demographic'> {
  const identifier = (type: string) => p.identifiers?.find((i) => i.type === type)?.value;
  const phones = byRank(p.telecom, 'phone');
  const emails = byRank(p.telecom, 'email');
  const cdc = (codings: readonly Coding[] | undefined) =>
    codings?.find((c) => c.system === 'urn:oid:2.16.840.1.113883.6.238')?.code;
  const address = first(p.addresses);
  const deceased = p.deceased ?? (p.deceasedDate !== undefined ? true : undefined);
  return {
    client_patient_id: p.sourceId,
    ...nameColumns(p.name),
    ssn: options.exportSsn ? identifier('SS') : undefined,
    dob: p.birthDate,
    other_id: identifier('MR'),
    account_id: identifier('AN'),
    gender: p.gender && GENDER[p.gender],
    race: cdc(p.race),
    ethnicity: cdc(p.ethnicity),
    primary_language: p.language?.code,
    phone_number: phones[0]?.value,
    phone_ext: phones[0]?.ext,
    phone_type: phones[0]?.use && PHONE_TYPE[phones[0].use],
    second_number: phones[1]?.value,
    second_ext: phones[1]?.ext,
    second_type: phones[1]?.use && PHONE_TYPE[phones[1].use],
    first_email: emails[0]?.value,
    second_email: emails[1]?.value,
    death_indication: yn(deceased),
    death_date: p.deceasedDate,
    address_type: address?.use,
    ...addressColumns(address),
    pcp_id: sourceRef(refs, 'primaryPractitionerId'),
  };
}

function organization(o: Organization): Row<'payer'> {
  return {
    name: o.name,
    ...contactColumns(o.telecom),
    ...addressColumns(o.address),
    payer_electronic_id: o.payerElectronicId,
    active: yn(o.active),
  };
}

function location(l: Location, refs: ReferenceSourceIds): Row<'location'> {
  return {
    name: l.name,
    ...addressColumns(l.address),
    ...contactColumns(l.telecom),
    timezone: l.timezone,
    part_of_id: sourceRef(refs, 'partOfId'),
    organization_id: sourceRef(refs, 'organizationId'),
    status: l.status,
    bookable: yn(l.bookable),
  };
}

function provider(p: Practitioner, refs: ReferenceSourceIds): Row<'provider'> {
  return {
    ...nameColumns(p.name),
    ...contactColumns(p.telecom),
    npi: p.identifiers?.find((i) => i.type === 'NPI')?.value,
    tin: p.identifiers?.find((i) => i.type === 'TAX')?.value,
    active: yn(p.active),
    ...codingColumns('specialty', p.specialty),
    is_hygienist: yn(p.isHygienist),
    location_id: sourceRef(refs, 'locationIds'),
  };
}

function appointment(a: Appointment, refs: ReferenceSourceIds): Row<'appointment'> {
  return {
    status: a.status,
    ...codingColumns('source_status', a.sourceStatus),
    start: a.start,
    end: a.end,
    minutes_duration: num(a.minutesDuration),
    patient_id: sourceRef(refs, 'patientId'),
    practitioner_id: sourceRef(refs, 'practitionerIds'),
    location_id: sourceRef(refs, 'locationId'),
    operatory_id: sourceRef(refs, 'operatoryId'),
    appointment_type_id: sourceRef(refs, 'appointmentTypeId'),
    ...codingColumns('appointment_type', a.appointmentType),
    ...codingColumns('procedure', first(a.procedures)?.code),
    confirmed: yn(a.confirmed),
    confirmed_at: a.confirmedAt,
    checked_in_at: a.checkedInAt,
    checked_out_at: a.checkedOutAt,
    cancellation_reason: a.cancellationReason,
    note: a.note,
    is_new_patient: yn(a.isNewPatient),
    created_at: a.createdAt,
  };
}

function appointmentType(a: AppointmentType): Row<'appointment_type'> {
  return {
    name: a.name,
    duration_minutes: num(a.durationMinutes),
    ...codingColumns('coding', a.coding),
    active: yn(a.active),
  };
}

function encounter(e: Encounter, refs: ReferenceSourceIds): Row<'encounter'> {
  return {
    status: e.status,
    ...codingColumns('class', e.class),
    ...codingColumns('type', e.type),
    patient_id: sourceRef(refs, 'patientId'),
    practitioner_id: sourceRef(refs, 'practitionerIds'),
    location_id: sourceRef(refs, 'locationId'),
    appointment_id: sourceRef(refs, 'appointmentId'),
    period_start: e.period?.start,
    period_end: e.period?.end,
    ...codingColumns('reason_code', first(e.reasonCodes)),
    condition_id: sourceRef(refs, 'diagnoses'),
  };
}

function diagnosis(c: Condition, refs: ReferenceSourceIds): Row<'diagnosis'> {
  return {
    clinical_status: c.clinicalStatus,
    verification_status: c.verificationStatus,
    category: c.category,
    ...codingColumns('code', c.code),
    patient_id: sourceRef(refs, 'patientId'),
    encounter_id: sourceRef(refs, 'encounterId'),
    onset_date: c.onsetDate,
    abatement_date: c.abatementDate,
    recorded_date: c.recordedDate,
  };
}

function procedure(p: Procedure, refs: ReferenceSourceIds): Row<'procedure'> {
  return {
    status: p.status,
    ...codingColumns('code', p.code),
    patient_id: sourceRef(refs, 'patientId'),
    encounter_id: sourceRef(refs, 'encounterId'),
    appointment_id: sourceRef(refs, 'appointmentId'),
    practitioner_id: sourceRef(refs, 'practitionerId'),
    location_id: sourceRef(refs, 'locationId'),
    performed_date: p.performedDate,
    tooth: p.tooth,
    surface: first(p.surfaces),
    fee: amount(p.fee),
  };
}

function charge(c: ChargeItem, refs: ReferenceSourceIds): Row<'charge'> {
  return {
    status: c.status,
    ...codingColumns('code', c.code),
    patient_id: sourceRef(refs, 'patientId'),
    encounter_id: sourceRef(refs, 'encounterId'),
    procedure_id: sourceRef(refs, 'procedureId'),
    practitioner_id: sourceRef(refs, 'practitionerId'),
    location_id: sourceRef(refs, 'locationId'),
    occurrence_date: c.occurrenceDate,
    entered_date: c.enteredDate,
    quantity: num(c.quantity),
    unit_price: amount(c.unitPrice),
    total_price: amount(c.totalPrice),
    diagnosis_id: sourceRef(refs, 'diagnosisIds'),
    guarantor_id: sourceRef(refs, 'guarantorId'),
  };
}

function insurance(c: Coverage, refs: ReferenceSourceIds): Row<'insurance'> {
  return {
    status: c.status,
    type: c.type,
    beneficiary_id: sourceRef(refs, 'beneficiaryId'),
    subscriber_id: c.subscriberId,
    subscriber_patient_id: sourceRef(refs, 'subscriberPatientId'),
    relationship: c.relationship,
    order: num(c.order),
    period_start: c.period?.start,
    period_end: c.period?.end,
    payor_id: sourceRef(refs, 'payorId'),
    payor_name: c.payorName,
    group_number: c.groupNumber,
    group_name: c.groupName,
    plan_name: c.planName,
    payer_electronic_id: c.payerElectronicId,
  };
}

function payment(p: Payment, refs: ReferenceSourceIds): Row<'payment'> {
  return {
    status: p.status,
    payer_type: p.payerType,
    patient_id: sourceRef(refs, 'patientId'),
    guarantor_id: sourceRef(refs, 'guarantorId'),
    practitioner_id: sourceRef(refs, 'practitionerId'),
    location_id: sourceRef(refs, 'locationId'),
    date: p.date,
    entered_date: p.enteredDate,
    amount: amount(p.amount),
    ...codingColumns('source_type', p.sourceType),
  };
}

type Rendered = { [E in FlatElement]: { element: E; row: Row<E> } }[FlatElement];

/**
 * The element and its body columns for a live resource. Organization and Location pick their
 * element by `kind`; a tombstone carries no `kind`, so a deleted one falls back to `practice` /
 * `location` unless the tombstone data does name it.
 */
function render(event: StoredEvent, options: FlatOptions): Rendered {
  const data = event.envelope.data;
  const refs = event.refs;
  const resourceType = event.envelope.resourceType;
  const live = event.kind !== 'deleted';
  switch (resourceType) {
    case 'Patient':
      return { element: 'demographic', row: live ? demographic(data as Patient, refs, options) : {} };
    case 'Organization': {
      const o = data as Organization;
      if (o.kind === 'payer') return { element: 'payer', row: live ? organization(o) : {} };
      const { payer_electronic_id: _dropped, ...row } = live ? organization(o) : {};
      return { element: 'practice', row };
    }
    case 'Location': {
      const l = data as Location;
      return {
        element: l.kind === 'operatory' ? 'operatory' : 'location',
        row: live ? location(l, refs) : {},
      };
    }
    case 'Practitioner':
      return { element: 'provider', row: live ? provider(data as Practitioner, refs) : {} };
    case 'Appointment':
      return { element: 'appointment', row: live ? appointment(data as Appointment, refs) : {} };
    case 'AppointmentType':
      return { element: 'appointment_type', row: live ? appointmentType(data as AppointmentType) : {} };
    case 'Encounter':
      return { element: 'encounter', row: live ? encounter(data as Encounter, refs) : {} };
    case 'Condition':
      return { element: 'diagnosis', row: live ? diagnosis(data as Condition, refs) : {} };
    case 'Procedure':
      return { element: 'procedure', row: live ? procedure(data as Procedure, refs) : {} };
    case 'ChargeItem':
      return { element: 'charge', row: live ? charge(data as ChargeItem, refs) : {} };
    case 'Coverage':
      return { element: 'insurance', row: live ? insurance(data as Coverage, refs) : {} };
    case 'Payment':
      return { element: 'payment', row: live ? payment(data as Payment, refs) : {} };
    case 'CustomElement':
      // Its columns are the script's, not a frozen element's: formatEvent renders it with customElementFlat.
      throw new TendrilError(
        'TENDRIL_E_INTERNAL',
        'a custom element event is rendered by formatEvent (customElementFlat), not toFlatEvent',
      );
    default:
      return resourceType satisfies never;
  }
}

/**
 * The `flat` output format (docs/standard-model.md, "Output formats"): a Healthjump-compatible `{ element,
 * data }` whose `data` is the element's header line and one row. Id columns hold vendor source ids (from
 * `event.refs`), so a Healthjump receiver can join on the keys it already knows. A `Deleted` row
 * fills only the key columns.
 */
export function toFlatEvent(event: StoredEvent, options: FlatOptions = {}): FlatEvent {
  const { element, row } = render(event, options);
  const columns: readonly string[] = FLAT_COLUMNS[element];
  const values: Record<string, string | undefined> = {
    ...(row as Record<string, string | undefined>),
    client_id: options.clientId ?? event.envelope.connectionId,
    [`client_${element === 'demographic' ? 'patient' : element}_id`]: event.sourceId,
    [`${element}_uuid`]: event.envelope.resourceId,
    event_type: FLAT_EVENT_TYPES[event.kind],
  };
  const line = columns.map((column) => escapeFlatField(values[column] ?? '')).join('|');
  return { element, data: `${columns.join('|')}\n${line}` };
}
