/**
 * Dentrix Enterprise codes and code systems, as data. Each value says where it comes from:
 * **E** = evidenced (public reporting SQL; docs/connectors/dentrix-enterprise.md, "Mapping rules and assumptions"), **A** = assumption to verify
 * against a live Dentrix Enterprise database before it is relied on. The fixture
 * (`fixtures/dentrix-enterprise`) gives column names, keys and nullability only, never code values.
 */
import type { Appointment } from '@tendril/core';

/** Code systems the connector writes (docs/standard-model.md, "Conventions"). */
export const SYSTEMS = {
  npi: 'http://hl7.org/fhir/sid/us-npi',
  cdt: 'http://www.ada.org/cdt',
  /** `DDB_PAT_BASE.CHART`: the chart number shown in Dentrix. */
  chartNumber: 'urn:tendril:dentrix-enterprise:chart-number',
  /** `DDB_RSC_BASE.STATEID`: kept under a system named after the column; its exact meaning is A. */
  stateId: 'urn:tendril:dentrix-enterprise:state-id',
  /** `DDB_RSC_BASE.ClinicNPI` values that are not ten digits. */
  clinicNpi: 'urn:tendril:dentrix-enterprise:clinic-npi',
} as const;

/** Lookup names of vendor codings (`urn:tendril:dentrix-enterprise[:<connectionId>]:<lookup>`). */
export const LOOKUPS = {
  /** `DDB_PAT_BASE.STATUS`: code values not public (A), kept as the vendor's number. */
  patStatus: 'pat-status',
  /** `DDB_PAT_BASE.Language`: a number into a Dentrix list (A), kept as the vendor's number. */
  language: 'language',
  /**
   * `DDB_APPT_BASE.STATUS`: 100/101/150 are fixed (E); every other value is a row of the site's
   * `DDB_DEF_TEXT` (type 7), so the system names the connection.
   */
  apptStatus: 'appt-status',
  /** `DDB_APPT_BASE.APPTTYPE`: a per-site list. */
  apptType: 'appt-type',
  /** `DDB_PAT_BASE.Race` → `DDB_DEF_TEXT` type 100: per-site definitions. */
  race: 'race',
  /** `DDB_PAT_BASE.EthnicityID` → `DDB_DEF_TEXT` type 115: per-site definitions. */
  ethnicity: 'ethnicity',
  /** `DDB_PROC_CODE_BASE.ADACODE` values that are not CDT-shaped: the site's own codes. */
  procedureCode: 'procedure-code',
  /** `DDB_PROC_LOG_BASE.CLASS` of a ledger transaction, kept as the vendor's number. */
  ledgerClass: 'ledger-class',
} as const;

/**
 * `DDB_DEF_TEXT.TYPE`: which list a definition row belongs to. 100 race, 101 language, 115
 * ethnicity: **E** (public queries, `fixtures/dentrix-enterprise/public-sql-columns.md`).
 */
export const DEF_TYPE = {
  race: 100,
  language: 101,
  ethnicity: 115,
} as const;

/**
 * `DDB_PROC_LOG_BASE.CHART_STATUS`: the table holds procedures and ledger lines. 102 a completed
 * procedure, 90 a ledger transaction (its kind in `CLASS`): **E** (public queries).
 */
export const CHART_STATUS = {
  ledgerTransaction: 90,
  completedProcedure: 102,
} as const;

/**
 * `DDB_PROC_LOG_BASE.CLASS` of a ledger transaction (CHART_STATUS 90). 3 insurance payment: **E**
 * (a public query labels it so). 1 patient payment, 2 adjustment: **A** (named in the design
 * notes, not labelled by any public query). Adjustments are not mapped: the model has no resource
 * for them.
 */
export const LEDGER_CLASS = {
  patientPayment: 1,
  adjustment: 2,
  insurancePayment: 3,
} as const;

/**
 * `DDB_RSC_BASE.RSCTYPE`: one resource table holds clinics, providers, operatories and staff.
 * - 0 clinic, 1 provider: **E** (docs/connectors/dentrix-enterprise.md, "Mapping rules and assumptions").
 * - 3 operatory: **A**. No public source gives the operatory code. Check on a live database with
 *   `SELECT DISTINCT OPTYPE FROM DDB_APPT_BASE` (appointments carry the type of their operatory
 *   resource in `OPTYPE`) before enabling the `operatories` stream.
 */
export const RSC_TYPE = {
  clinic: 0,
  provider: 1,
  operatory: 3,
} as const;

/** `DDB_APPT_BASE.STATUS` values fixed by Dentrix (E); all others are site-defined. */
export const APPT_STATUS = {
  broken: 100,
  wait: 101,
  complete: 150,
} as const;

/** How a broken appointment (STATUS 100) is reported: the connection option `brokenAppointmentStatus`. */
export const BROKEN_APPOINTMENT_STATUSES = ['cancelled', 'noshow'] as const;
export type BrokenAppointmentStatus = (typeof BROKEN_APPOINTMENT_STATUSES)[number];

/**
 * Appointment.status from `DDB_APPT_BASE.STATUS`.
 * - 100 Broken → the connection's choice (`cancelled` by default, or `noshow`): offices use
 *   "broken" for late cancellations and no-shows alike.
 * - 101 Wait → `waitlist` (A: read as Dentrix's wait/will-call list, not the waiting room).
 * - 150 Complete → `fulfilled`.
 * - anything else is a site-defined status of a scheduled appointment (unconfirmed, confirmed,
 *   left message…, `DDB_DEF_TEXT` type 7) → `booked`; the value stays in `sourceStatus`.
 */
export function appointmentStatus(
  status: number | undefined,
  broken: BrokenAppointmentStatus,
): Appointment['status'] {
  switch (status) {
    case APPT_STATUS.broken:
      return broken;
    case APPT_STATUS.wait:
      return 'waitlist';
    case APPT_STATUS.complete:
      return 'fulfilled';
    default:
      return 'booked';
  }
}
