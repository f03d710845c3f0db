import { z } from 'zod';
import {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  HumanName,
  Id,
  Instant,
  IsoDate,
  Money,
  Period,
  resourceBase,
} from './datatypes.js';

const Text = z.string().min(1);

export const Organization = z
  .object({
    resourceType: z.literal('Organization'),
    ...resourceBase,
    kind: z.enum(['practice', 'payer']),
    name: Text.optional(),
    telecom: z.array(ContactPoint).optional(),
    address: Address.optional(),
    payerElectronicId: Text.optional(),
    active: z.boolean().optional(),
  })
  .strict();

export const Location = z
  .object({
    resourceType: z.literal('Location'),
    ...resourceBase,
    kind: z.enum(['office', 'operatory']),
    name: Text.optional(),
    address: Address.optional(),
    telecom: z.array(ContactPoint).optional(),
    timezone: Text.optional(),
    partOfId: Id.optional(),
    organizationId: Id.optional(),
    status: z.enum(['active', 'inactive']).optional(),
    bookable: z.boolean().optional(),
  })
  .strict()
  .refine((l) => l.kind !== 'office' || l.timezone !== undefined, {
    message: 'an office Location needs an IANA timezone',
    path: ['timezone'],
  });

export const Practitioner = z
  .object({
    resourceType: z.literal('Practitioner'),
    ...resourceBase,
    name: HumanName.optional(),
    telecom: z.array(ContactPoint).optional(),
    active: z.boolean().optional(),
    specialty: Coding.optional(),
    isHygienist: z.boolean().optional(),
    locationIds: z.array(Id).optional(),
  })
  .strict();

export const Patient = z
  .object({
    resourceType: z.literal('Patient'),
    ...resourceBase,
    name: HumanName.optional(),
    preferredName: Text.optional(),
    birthDate: IsoDate.optional(),
    gender: z.enum(['male', 'female', 'other', 'unknown']).optional(),
    race: z.array(Coding).optional(),
    ethnicity: z.array(Coding).optional(),
    language: Coding.optional(),
    telecom: z.array(ContactPoint).optional(),
    addresses: z.array(Address).optional(),
    deceased: z.boolean().optional(),
    deceasedDate: IsoDate.optional(),
    primaryPractitionerId: Id.optional(),
    primaryLocationId: Id.optional(),
    guarantorId: Id.optional(),
    active: z.boolean().optional(),
    sourceStatus: Coding.optional(),
  })
  .strict();

export const AppointmentStatus = z.enum([
  'proposed',
  'pending',
  'booked',
  'arrived',
  'checked-in',
  'fulfilled',
  'cancelled',
  'noshow',
  'entered-in-error',
  'waitlist',
]);

export const Appointment = z
  .object({
    resourceType: z.literal('Appointment'),
    ...resourceBase,
    status: AppointmentStatus,
    sourceStatus: Coding.optional(),
    start: Instant.optional(),
    end: Instant.optional(),
    minutesDuration: z.number().int().nonnegative().optional(),
    patientId: Id.optional(),
    practitionerIds: z.array(Id).optional(),
    locationId: Id.optional(),
    operatoryId: Id.optional(),
    appointmentTypeId: Id.optional(),
    appointmentType: Coding.optional(),
    procedures: z
      .array(z.object({ code: Coding, tooth: Text.optional(), surfaces: z.array(Text).optional() }).strict())
      .optional(),
    confirmed: z.boolean().optional(),
    confirmedAt: Instant.optional(),
    checkedInAt: Instant.optional(),
    checkedOutAt: Instant.optional(),
    cancellationReason: Text.optional(),
    note: Text.optional(),
    isNewPatient: z.boolean().optional(),
    createdAt: Instant.optional(),
  })
  .strict();

export const AppointmentType = z
  .object({
    resourceType: z.literal('AppointmentType'),
    ...resourceBase,
    name: Text.optional(),
    durationMinutes: z.number().int().nonnegative().optional(),
    coding: Coding.optional(),
    active: z.boolean().optional(),
  })
  .strict();

export const Encounter = z
  .object({
    resourceType: z.literal('Encounter'),
    ...resourceBase,
    status: z.enum(['planned', 'in-progress', 'finished', 'cancelled']),
    class: Coding,
    type: CodeableConcept.optional(),
    patientId: Id.optional(),
    practitionerIds: z.array(Id).optional(),
    locationId: Id.optional(),
    appointmentId: Id.optional(),
    period: Period.optional(),
    reasonCodes: z.array(CodeableConcept).optional(),
    diagnoses: z
      .array(z.object({ conditionId: Id, rank: z.number().int().positive().optional() }).strict())
      .optional(),
  })
  .strict();

export const Condition = z
  .object({
    resourceType: z.literal('Condition'),
    ...resourceBase,
    clinicalStatus: z.enum(['active', 'resolved', 'inactive']).optional(),
    verificationStatus: z
      .enum(['unconfirmed', 'provisional', 'differential', 'confirmed', 'refuted', 'entered-in-error'])
      .optional(),
    category: z.enum(['problem-list-item', 'encounter-diagnosis']).optional(),
    code: CodeableConcept.optional(),
    patientId: Id,
    encounterId: Id.optional(),
    onsetDate: IsoDate.optional(),
    abatementDate: IsoDate.optional(),
    recordedDate: IsoDate.optional(),
  })
  .strict();

export const Procedure = z
  .object({
    resourceType: z.literal('Procedure'),
    ...resourceBase,
    status: z.enum(['completed', 'preparation', 'not-done', 'entered-in-error', 'in-progress']),
    code: CodeableConcept.optional(),
    patientId: Id,
    encounterId: Id.optional(),
    appointmentId: Id.optional(),
    practitionerId: Id.optional(),
    locationId: Id.optional(),
    performedDate: IsoDate.optional(),
    tooth: Text.optional(),
    surfaces: z.array(z.enum(['M', 'O', 'D', 'B', 'F', 'L', 'I'])).optional(),
    fee: Money.optional(),
  })
  .strict();

export const ChargeItem = z
  .object({
    resourceType: z.literal('ChargeItem'),
    ...resourceBase,
    status: z.enum(['billable', 'billed', 'entered-in-error', 'planned', 'not-billable']),
    code: CodeableConcept,
    patientId: Id,
    encounterId: Id.optional(),
    procedureId: Id.optional(),
    practitionerId: Id.optional(),
    locationId: Id.optional(),
    occurrenceDate: IsoDate.optional(),
    enteredDate: IsoDate.optional(),
    quantity: z.number().nonnegative().optional(),
    unitPrice: Money.optional(),
    totalPrice: Money.optional(),
    diagnosisIds: z.array(Id).optional(),
    guarantorId: Id.optional(),
  })
  .strict();

export const Coverage = z
  .object({
    resourceType: z.literal('Coverage'),
    ...resourceBase,
    status: z.enum(['active', 'cancelled']),
    type: z.enum(['dental', 'medical']).optional(),
    beneficiaryId: Id,
    subscriberId: Text.optional(),
    subscriberPatientId: Id.optional(),
    relationship: z.enum(['self', 'spouse', 'child', 'other']).optional(),
    order: z.number().int().positive().optional(),
    period: Period.optional(),
    payorId: Id.optional(),
    payorName: Text.optional(),
    groupNumber: Text.optional(),
    groupName: Text.optional(),
    planName: Text.optional(),
    payerElectronicId: Text.optional(),
  })
  .strict();

/**
 * A payment received on a patient's account: one ledger credit line (Dentrix Enterprise
 * `DDB_PROC_LOG_BASE` transactions). FHIR R4 has no patient-payment resource of its own; the `fhir`
 * format writes a PaymentReconciliation. `amount` is the vendor's amount in major units, with the
 * vendor's sign.
 */
export const Payment = z
  .object({
    resourceType: z.literal('Payment'),
    ...resourceBase,
    status: z.enum(['active', 'cancelled', 'entered-in-error']),
    /** Who paid: the patient (or guarantor) or an insurance carrier. */
    payerType: z.enum(['patient', 'insurance']),
    patientId: Id,
    guarantorId: Id.optional(),
    practitionerId: Id.optional(),
    locationId: Id.optional(),
    /** The date of the payment. */
    date: IsoDate.optional(),
    /** The date it was entered in the ledger. */
    enteredDate: IsoDate.optional(),
    amount: Money,
    /** The vendor's kind of ledger line (its transaction class), kept as a vendor Coding. */
    sourceType: Coding.optional(),
  })
  .strict();

export type Organization = z.infer<typeof Organization>;
export type Location = z.infer<typeof Location>;
export type Practitioner = z.infer<typeof Practitioner>;
export type Patient = z.infer<typeof Patient>;
export type Appointment = z.infer<typeof Appointment>;
export type AppointmentType = z.infer<typeof AppointmentType>;
export type Encounter = z.infer<typeof Encounter>;
export type Condition = z.infer<typeof Condition>;
export type Procedure = z.infer<typeof Procedure>;
export type ChargeItem = z.infer<typeof ChargeItem>;
export type Coverage = z.infer<typeof Coverage>;
export type Payment = z.infer<typeof Payment>;

export { Instant, IsoDate, Money };
