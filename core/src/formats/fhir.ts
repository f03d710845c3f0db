import { TendrilError } from '../errors.js';
import type { EventEnvelope, EventResourceType, StoredEvent } from '../events.js';
import { customElementFhir } from '../custom-element.js';
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
  Identifier,
  Location,
  Money,
  Organization,
  Patient,
  Payment,
  Period,
  Practitioner,
  Procedure,
  ResourceType,
} from '../model/index.js';

/** A FHIR R4 resource as plain JSON. */
export type FhirResource = Record<string, unknown>;

/** Options of the `fhir` format. */
export interface FhirOptions {
  /**
   * Include identifiers of type `SS` (social security number). Off by default: docs/standard-model.md,
   * "Conventions" allows SSNs to leave the agent only when the operator asks for them.
   */
  readonly exportSsn?: boolean;
}

/**
 * The `fhir` event (docs/standard-model.md, "Output formats"): the envelope with `data` replaced by the FHIR
 * R4 resource, or `null` for a `deleted` event (FHIR has no tombstone resource).
 */
export type FhirEventEnvelope = Omit<EventEnvelope, 'data'> & { readonly data: FhirResource | null };

/**
 * The FHIR R4 resource type each Tendril resource becomes (docs/standard-model.md, "Resources"). Practitioner
 * maps to Practitioner only for now: the PractitionerRole that would carry `specialty`,
 * `isHygienist` and `locationIds` is not emitted yet.
 */
export const FHIR_RESOURCE_TYPES = {
  Organization: 'Organization',
  Location: 'Location',
  Practitioner: 'Practitioner',
  Patient: 'Patient',
  Appointment: 'Appointment',
  AppointmentType: 'HealthcareService',
  Encounter: 'Encounter',
  Condition: 'Condition',
  Procedure: 'Procedure',
  ChargeItem: 'ChargeItem',
  Coverage: 'Coverage',
  Payment: 'PaymentReconciliation',
} as const satisfies Record<ResourceType, string>;

/** Code systems and extension URLs the `fhir` format writes. */
export const FHIR_SYSTEMS = {
  identifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  locationPhysicalType: 'http://terminology.hl7.org/CodeSystem/location-physical-type',
  organizationType: 'http://terminology.hl7.org/CodeSystem/organization-type',
  conditionClinical: 'http://terminology.hl7.org/CodeSystem/condition-clinical',
  conditionVerification: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  subscriberRelationship: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  adaUniversalTooth: 'http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem',
  cdcRaceEthnicity: 'urn:oid:2.16.840.1.113883.6.238',
  timezoneExtension: 'http://hl7.org/fhir/StructureDefinition/timezone',
  contactPointExtension: 'http://hl7.org/fhir/StructureDefinition/contactpoint-extension',
  dataAbsentReason: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason',
  paymentType: 'http://terminology.hl7.org/CodeSystem/payment-type',
  usCoreRace: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
  usCoreEthnicity: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
} as const;

/** URL of the extension that carries a Tendril-only field with no FHIR R4 element. */
export function tendrilExtensionUrl(field: string): string {
  return `urn:tendril:extension:${field}`;
}

/** System of the identifier that carries the vendor key (`sourceId`). */
export function sourceIdentifierSystem(
  connectorId: string,
  connectionId: string,
  resourceType: EventResourceType,
): string {
  return `urn:tendril:${connectorId}:${connectionId}:${resourceType}`;
}

// OMB minimum categories: US Core puts these in `ombCategory`, any other CDC code in `detailed`.
const OMB_RACE = new Set(['1002-5', '2028-9', '2054-5', '2076-8', '2106-3']);
const OMB_ETHNICITY = new Set(['2135-2', '2186-5']);

type Json = Record<string, unknown>;
type Extension = Json & { url: string };

interface Context {
  readonly event: StoredEvent;
  readonly options: FhirOptions;
}

/** Drops `undefined` values and empty arrays, so no element is emitted without content. */
function compact(value: Json): Json {
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[key] = v;
  }
  return out;
}

function reference(type: string, id: string | undefined, display?: string): Json | undefined {
  return id === undefined ? undefined : compact({ reference: `${type}/${id}`, display });
}

function coding(c: Coding): Json {
  return compact({ system: c.system, code: c.code, display: c.display });
}

function concept(c: Coding | undefined): Json | undefined {
  return c === undefined ? undefined : { coding: [coding(c)] };
}

function codeableConcept(c: CodeableConcept | undefined): Json | undefined {
  return c === undefined ? undefined : compact({ coding: c.coding.map(coding), text: c.text });
}

function money(m: Money | undefined): Json | undefined {
  return m === undefined ? undefined : { value: m.value, currency: m.currency };
}

function period(p: Period | undefined): Json | undefined {
  if (p === undefined || (p.start === undefined && p.end === undefined)) return undefined;
  return compact({ start: p.start, end: p.end });
}

function humanNames(name: HumanName | undefined, preferred?: string): Json[] {
  const names: Json[] = [];
  if (name && (name.family || name.given?.length || name.prefix?.length || name.suffix?.length)) {
    names.push(
      compact({
        use: 'official',
        family: name.family,
        given: name.given,
        prefix: name.prefix,
        suffix: name.suffix,
      }),
    );
  }
  if (preferred) names.push({ use: 'usual', given: [preferred] });
  return names;
}

function contactPoints(telecom: readonly ContactPoint[] | undefined): Json[] {
  return (telecom ?? []).map((cp) =>
    compact({
      extension: cp.ext ? [{ url: FHIR_SYSTEMS.contactPointExtension, valueString: cp.ext }] : undefined,
      system: cp.system,
      value: cp.value,
      use: cp.use,
      rank: cp.rank,
    }),
  );
}

function address(a: Address | undefined): Json | undefined {
  if (a === undefined) return undefined;
  const out = compact({
    use: a.use,
    line: a.line,
    city: a.city,
    state: a.state,
    postalCode: a.postalCode,
    country: a.country,
  });
  return Object.keys(out).some((k) => k !== 'use') ? out : undefined;
}

/** The vendor key first (so a receiver can always join back), then the resource's own identifiers. */
function identifiers(ctx: Context, own: readonly Identifier[] | undefined): Json[] {
  const { event } = ctx;
  const list: Json[] = [
    {
      system: sourceIdentifierSystem(
        event.connectorId,
        event.envelope.connectionId,
        event.envelope.resourceType,
      ),
      value: event.sourceId,
    },
  ];
  for (const id of own ?? []) {
    if (id.type === 'SS' && !ctx.options.exportSsn) continue;
    list.push(
      compact({
        type: id.type ? { coding: [{ system: FHIR_SYSTEMS.identifierType, code: id.type }] } : undefined,
        system: id.system,
        value: id.value,
      }),
    );
  }
  return list;
}

function ext(field: string, valueKey: string, value: unknown): Extension | undefined {
  return value === undefined ? undefined : { url: tendrilExtensionUrl(field), [valueKey]: value };
}

function extensions(...list: (Extension | Extension[] | undefined)[]): Extension[] {
  return list.flat().filter((e): e is Extension => e !== undefined);
}

/** A required reference whose target is unknown: FHIR's way to say "this exists but we do not know it". */
function unknownReference(): Json {
  return { extension: [{ url: FHIR_SYSTEMS.dataAbsentReason, valueCode: 'unknown' }] };
}

function base(
  ctx: Context,
  resourceType: string,
  resource: { id: string; identifiers?: readonly Identifier[] },
): Json {
  return {
    resourceType,
    id: resource.id,
    meta: { lastUpdated: ctx.event.envelope.occurredAt },
  };
}

function usCoreCategory(
  url: string,
  omb: ReadonlySet<string>,
  codings: readonly Coding[],
): Extension | undefined {
  const cdc = codings.filter((c) => c.system === FHIR_SYSTEMS.cdcRaceEthnicity);
  if (cdc.length === 0) return undefined;
  return {
    url,
    extension: [
      ...cdc.map((c) => ({ url: omb.has(c.code) ? 'ombCategory' : 'detailed', valueCoding: coding(c) })),
      { url: 'text', valueString: cdc.map((c) => c.display ?? c.code).join(', ') },
    ],
  };
}

function patient(ctx: Context, p: Patient): Json {
  const race = p.race ?? [];
  const ethnicity = p.ethnicity ?? [];
  const otherCodings = (field: string, codings: readonly Coding[]) =>
    codings
      .filter((c) => c.system !== FHIR_SYSTEMS.cdcRaceEthnicity)
      .map((c) => ext(field, 'valueCoding', coding(c)));
  return compact({
    ...base(ctx, 'Patient', p),
    extension: extensions(
      usCoreCategory(FHIR_SYSTEMS.usCoreRace, OMB_RACE, race),
      usCoreCategory(FHIR_SYSTEMS.usCoreEthnicity, OMB_ETHNICITY, ethnicity),
      ...otherCodings('race', race),
      ...otherCodings('ethnicity', ethnicity),
      ext('primaryLocationId', 'valueReference', reference('Location', p.primaryLocationId)),
      ext('guarantorId', 'valueReference', reference('Patient', p.guarantorId)),
      ext('sourceStatus', 'valueCoding', p.sourceStatus && coding(p.sourceStatus)),
    ),
    identifier: identifiers(ctx, p.identifiers),
    active: p.active,
    name: humanNames(p.name, p.preferredName),
    telecom: contactPoints(p.telecom),
    gender: p.gender,
    birthDate: p.birthDate,
    deceasedDateTime: p.deceasedDate,
    deceasedBoolean: p.deceasedDate === undefined ? p.deceased : undefined,
    address: (p.addresses ?? []).map(address).filter((a) => a !== undefined),
    communication: p.language ? [{ language: concept(p.language), preferred: true }] : undefined,
    generalPractitioner: p.primaryPractitionerId
      ? [reference('Practitioner', p.primaryPractitionerId)]
      : undefined,
  });
}

function practitioner(ctx: Context, p: Practitioner): Json {
  return compact({
    ...base(ctx, 'Practitioner', p),
    identifier: identifiers(ctx, p.identifiers),
    active: p.active,
    name: humanNames(p.name),
    telecom: contactPoints(p.telecom),
  });
}

function organization(ctx: Context, o: Organization): Json {
  const type =
    o.kind === 'practice'
      ? { system: FHIR_SYSTEMS.organizationType, code: 'prov', display: 'Healthcare Provider' }
      : { system: FHIR_SYSTEMS.organizationType, code: 'pay', display: 'Payer' };
  const addr = address(o.address);
  return compact({
    ...base(ctx, 'Organization', o),
    extension: extensions(ext('payerElectronicId', 'valueString', o.payerElectronicId)),
    identifier: identifiers(ctx, o.identifiers),
    active: o.active,
    type: [{ coding: [type] }],
    name: o.name,
    telecom: contactPoints(o.telecom),
    address: addr ? [addr] : undefined,
  });
}

function location(ctx: Context, l: Location): Json {
  const physicalType =
    l.kind === 'office'
      ? { system: FHIR_SYSTEMS.locationPhysicalType, code: 'si', display: 'Site' }
      : { system: FHIR_SYSTEMS.locationPhysicalType, code: 'ro', display: 'Room' };
  return compact({
    ...base(ctx, 'Location', l),
    extension: extensions(
      l.timezone ? { url: FHIR_SYSTEMS.timezoneExtension, valueCode: l.timezone } : undefined,
      ext('bookable', 'valueBoolean', l.bookable),
    ),
    identifier: identifiers(ctx, l.identifiers),
    status: l.status,
    name: l.name,
    mode: 'instance',
    telecom: contactPoints(l.telecom),
    address: address(l.address),
    physicalType: { coding: [physicalType] },
    managingOrganization: reference('Organization', l.organizationId),
    partOf: reference('Location', l.partOfId),
  });
}

function healthcareService(ctx: Context, a: AppointmentType): Json {
  return compact({
    ...base(ctx, 'HealthcareService', a),
    extension: extensions(ext('durationMinutes', 'valueInteger', a.durationMinutes)),
    identifier: identifiers(ctx, a.identifiers),
    active: a.active,
    type: a.coding ? [concept(a.coding)] : undefined,
    name: a.name,
  });
}

const MINUTE_MS = 60_000;
/** Statuses FHIR allows without start and end (invariant app-3). */
const UNSCHEDULED_STATUSES: ReadonlySet<string> = new Set(['proposed', 'cancelled', 'waitlist']);

function appointmentTimes(a: Appointment): { start?: string; end?: string } {
  let end = a.end;
  if (a.start !== undefined && end === undefined && a.minutesDuration !== undefined) {
    end = new Date(Date.parse(a.start) + a.minutesDuration * MINUTE_MS).toISOString().replace('.000Z', 'Z');
  }
  if ((a.start === undefined) !== (end === undefined)) {
    throw new TendrilError(
      'TENDRIL_E_FORMAT',
      'An Appointment has a start without an end (or the reverse), which FHIR R4 does not allow (app-2). Map both start and end, or start and minutesDuration, in the connector.',
      { details: { resourceType: 'Appointment', field: a.start === undefined ? 'start' : 'end' } },
    );
  }
  if (a.start === undefined && !UNSCHEDULED_STATUSES.has(a.status)) {
    throw new TendrilError(
      'TENDRIL_E_FORMAT',
      `An Appointment with status ${a.status} has no start and end, which FHIR R4 allows only for proposed, cancelled or waitlist appointments (app-3). Map start and end in the connector.`,
      { details: { resourceType: 'Appointment', field: 'start' } },
    );
  }
  return { start: a.start, end };
}

function appointment(ctx: Context, a: Appointment): Json {
  const actors = [
    reference('Patient', a.patientId),
    ...(a.practitionerIds ?? []).map((id) => reference('Practitioner', id)),
    reference('Location', a.locationId),
    reference('Location', a.operatoryId),
  ].filter((r) => r !== undefined);
  const participant = (actors.length ? actors : [unknownReference()]).map((actor) => ({
    actor,
    status: 'accepted',
  }));
  const { start, end } = appointmentTimes(a);
  return compact({
    ...base(ctx, 'Appointment', a),
    extension: extensions(
      ext('sourceStatus', 'valueCoding', a.sourceStatus && coding(a.sourceStatus)),
      ext('appointmentTypeId', 'valueReference', reference('HealthcareService', a.appointmentTypeId)),
      ext('confirmed', 'valueBoolean', a.confirmed),
      ext('confirmedAt', 'valueInstant', a.confirmedAt),
      ext('checkedInAt', 'valueInstant', a.checkedInAt),
      ext('checkedOutAt', 'valueInstant', a.checkedOutAt),
      ext('isNewPatient', 'valueBoolean', a.isNewPatient),
    ),
    identifier: identifiers(ctx, a.identifiers),
    status: a.status,
    cancelationReason: a.cancellationReason ? { text: a.cancellationReason } : undefined,
    appointmentType: concept(a.appointmentType),
    reasonCode: (a.procedures ?? []).map((p) =>
      compact({
        extension: extensions(
          ext('tooth', 'valueString', p.tooth),
          ...(p.surfaces ?? []).map((s) => ext('surface', 'valueString', s)),
        ),
        coding: [coding(p.code)],
      }),
    ),
    start,
    end,
    minutesDuration: a.minutesDuration !== undefined && a.minutesDuration > 0 ? a.minutesDuration : undefined,
    created: a.createdAt,
    comment: a.note,
    participant,
  });
}

function encounter(ctx: Context, e: Encounter): Json {
  return compact({
    ...base(ctx, 'Encounter', e),
    identifier: identifiers(ctx, e.identifiers),
    status: e.status,
    class: coding(e.class),
    type: e.type ? [codeableConcept(e.type)] : undefined,
    subject: reference('Patient', e.patientId),
    participant: (e.practitionerIds ?? []).map((id) => ({ individual: reference('Practitioner', id) })),
    appointment: e.appointmentId ? [reference('Appointment', e.appointmentId)] : undefined,
    period: period(e.period),
    reasonCode: (e.reasonCodes ?? []).map(codeableConcept),
    diagnosis: (e.diagnoses ?? []).map((d) =>
      compact({ condition: reference('Condition', d.conditionId), rank: d.rank }),
    ),
    location: e.locationId ? [{ location: reference('Location', e.locationId) }] : undefined,
  });
}

/** Clinical statuses that allow an abatement (invariant con-4). */
const ABATED_STATUSES: ReadonlySet<string> = new Set(['resolved', 'inactive']);

function condition(ctx: Context, c: Condition): Json {
  // con-5: no clinicalStatus on an entered-in-error condition.
  const clinicalStatus = c.verificationStatus === 'entered-in-error' ? undefined : c.clinicalStatus;
  // con-4: an abatement needs a resolved/inactive clinicalStatus; otherwise keep the date in an extension.
  const abatementAllowed = clinicalStatus !== undefined && ABATED_STATUSES.has(clinicalStatus);
  return compact({
    ...base(ctx, 'Condition', c),
    extension: extensions(ext('abatementDate', 'valueDate', abatementAllowed ? undefined : c.abatementDate)),
    identifier: identifiers(ctx, c.identifiers),
    clinicalStatus: clinicalStatus
      ? concept({ system: FHIR_SYSTEMS.conditionClinical, code: clinicalStatus })
      : undefined,
    verificationStatus: c.verificationStatus
      ? concept({ system: FHIR_SYSTEMS.conditionVerification, code: c.verificationStatus })
      : undefined,
    category: c.category
      ? [concept({ system: FHIR_SYSTEMS.conditionCategory, code: c.category })]
      : undefined,
    code: codeableConcept(c.code),
    subject: reference('Patient', c.patientId),
    encounter: reference('Encounter', c.encounterId),
    onsetDateTime: c.onsetDate,
    abatementDateTime: abatementAllowed ? c.abatementDate : undefined,
    recordedDate: c.recordedDate,
  });
}

function procedure(ctx: Context, p: Procedure): Json {
  return compact({
    ...base(ctx, 'Procedure', p),
    extension: extensions(
      ext('appointmentId', 'valueReference', reference('Appointment', p.appointmentId)),
      ...(p.surfaces ?? []).map((s) => ext('surface', 'valueCode', s)),
      ext('fee', 'valueMoney', money(p.fee)),
    ),
    identifier: identifiers(ctx, p.identifiers),
    status: p.status,
    code: codeableConcept(p.code),
    subject: reference('Patient', p.patientId),
    encounter: reference('Encounter', p.encounterId),
    performedDateTime: p.performedDate,
    performer: p.practitionerId ? [{ actor: reference('Practitioner', p.practitionerId) }] : undefined,
    location: reference('Location', p.locationId),
    bodySite: p.tooth ? [concept({ system: FHIR_SYSTEMS.adaUniversalTooth, code: p.tooth })] : undefined,
  });
}

function chargeItem(ctx: Context, c: ChargeItem): Json {
  return compact({
    ...base(ctx, 'ChargeItem', c),
    extension: extensions(
      ext('locationId', 'valueReference', reference('Location', c.locationId)),
      ext('unitPrice', 'valueMoney', money(c.unitPrice)),
      ext('guarantorId', 'valueReference', reference('Patient', c.guarantorId)),
    ),
    identifier: identifiers(ctx, c.identifiers),
    status: c.status,
    code: codeableConcept(c.code),
    subject: reference('Patient', c.patientId),
    context: reference('Encounter', c.encounterId),
    occurrenceDateTime: c.occurrenceDate,
    performer: c.practitionerId ? [{ actor: reference('Practitioner', c.practitionerId) }] : undefined,
    quantity: c.quantity !== undefined ? { value: c.quantity } : undefined,
    priceOverride: money(c.totalPrice),
    enteredDate: c.enteredDate,
    service: c.procedureId ? [reference('Procedure', c.procedureId)] : undefined,
    supportingInformation: (c.diagnosisIds ?? []).map((id) => reference('Condition', id)),
  });
}

const COVERAGE_TYPES = {
  dental: { system: FHIR_SYSTEMS.actCode, code: 'DENTAL', display: 'dental care policy' },
  medical: { system: FHIR_SYSTEMS.actCode, code: 'HIP', display: 'health insurance plan policy' },
} as const;

function coverageClass(
  code: 'group' | 'plan',
  value: string | undefined,
  name: string | undefined,
): Json | undefined {
  const v = value ?? name;
  if (v === undefined) return undefined;
  return compact({ type: concept({ system: FHIR_SYSTEMS.coverageClass, code }), value: v, name });
}

function coverage(ctx: Context, c: Coverage): Json {
  const payor =
    reference('Organization', c.payorId, c.payorName) ??
    (c.payorName ? { display: c.payorName } : unknownReference());
  return compact({
    ...base(ctx, 'Coverage', c),
    extension: extensions(ext('payerElectronicId', 'valueString', c.payerElectronicId)),
    identifier: identifiers(ctx, c.identifiers),
    status: c.status,
    type: c.type ? { coding: [COVERAGE_TYPES[c.type]], text: c.type } : undefined,
    subscriber: reference('Patient', c.subscriberPatientId),
    subscriberId: c.subscriberId,
    beneficiary: reference('Patient', c.beneficiaryId),
    relationship: c.relationship
      ? concept({ system: FHIR_SYSTEMS.subscriberRelationship, code: c.relationship })
      : undefined,
    period: period(c.period),
    payor: [payor],
    class: [
      coverageClass('group', c.groupNumber, c.groupName),
      coverageClass('plan', undefined, c.planName),
    ].filter((x) => x !== undefined),
    order: c.order,
  });
}

/**
 * A Payment as a PaymentReconciliation of one detail line (type `payment`). R4 requires `created`,
 * `paymentDate` and `paymentAmount`: `created` is the entry date (else the payment date), and a
 * missing date is marked with the data-absent-reason extension instead of being invented. The
 * patient, payer type, practitioner and office have no R4 element here and travel as Tendril
 * extensions.
 */
function paymentReconciliation(ctx: Context, p: Payment): Json {
  const created = p.enteredDate ?? p.date;
  return compact({
    ...base(ctx, 'PaymentReconciliation', p),
    extension: extensions(
      ext('patientId', 'valueReference', reference('Patient', p.patientId)),
      ext('payerType', 'valueCode', p.payerType),
      ext('guarantorId', 'valueReference', reference('Patient', p.guarantorId)),
      ext('practitionerId', 'valueReference', reference('Practitioner', p.practitionerId)),
      ext('locationId', 'valueReference', reference('Location', p.locationId)),
      ext('sourceType', 'valueCoding', p.sourceType ? coding(p.sourceType) : undefined),
    ),
    identifier: identifiers(ctx, p.identifiers),
    status: p.status,
    created,
    _created: created === undefined ? unknownReference() : undefined,
    paymentDate: p.date,
    _paymentDate: p.date === undefined ? unknownReference() : undefined,
    paymentAmount: money(p.amount),
    detail: [
      compact({
        type: concept({ system: FHIR_SYSTEMS.paymentType, code: 'payment' }),
        date: p.date,
        amount: money(p.amount),
      }),
    ],
  });
}

/**
 * The FHIR R4 resource for an event, or `null` for a `deleted` event. Reference fields become
 * `Reference("<Type>/<id>")`, the vendor key becomes the first `identifier`, and `meta.lastUpdated`
 * is the event's `occurredAt`, so the resource alone says which change it reflects.
 */
export function toFhirResource(event: StoredEvent, options: FhirOptions = {}): FhirResource | null {
  if (event.kind === 'deleted') return null;
  const ctx: Context = { event, options };
  const data = event.envelope.data;
  const resourceType = event.envelope.resourceType;
  switch (resourceType) {
    case 'Patient':
      return patient(ctx, data as Patient);
    case 'Practitioner':
      return practitioner(ctx, data as Practitioner);
    case 'Organization':
      return organization(ctx, data as Organization);
    case 'Location':
      return location(ctx, data as Location);
    case 'AppointmentType':
      return healthcareService(ctx, data as AppointmentType);
    case 'Appointment':
      return appointment(ctx, data as Appointment);
    case 'Encounter':
      return encounter(ctx, data as Encounter);
    case 'Condition':
      return condition(ctx, data as Condition);
    case 'Procedure':
      return procedure(ctx, data as Procedure);
    case 'ChargeItem':
      return chargeItem(ctx, data as ChargeItem);
    case 'Coverage':
      return coverage(ctx, data as Coverage);
    case 'Payment':
      return paymentReconciliation(ctx, data as Payment);
    case 'CustomElement':
      // A nightly script's row: a `Basic` resource (custom-element.ts says why).
      return customElementFhir(event);
    default:
      return resourceType satisfies never;
  }
}

/** The `fhir` output format: the envelope with `data` = {@link toFhirResource}. */
export function toFhirEvent(event: StoredEvent, options: FhirOptions = {}): FhirEventEnvelope {
  return { ...event.envelope, data: toFhirResource(event, options) };
}
