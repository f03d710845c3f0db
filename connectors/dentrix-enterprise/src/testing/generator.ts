import type { Knex } from 'knex';
import { TendrilError } from '@tendril/core';
import { CHART_STATUS, DEF_TYPE, LEDGER_CLASS } from '../vocabularies.js';
import {
  CITIES,
  FEMALE_FIRST_NAMES,
  LAST_NAMES,
  MALE_FIRST_NAMES,
  Random,
  type Seed,
  STREET_NAMES,
} from '@tendril/testing';

/**
 * A small deterministic data set for every table the connector reads, in the order the tables are
 * loaded (the shared replica of Dentrix Enterprise 11.0, then this connector's
 * `fixtures/public-query-tables.mariadb.sql`):
 * - replica: clinics, providers and operatories in `DDB_RSC_BASE`, patients in `DDB_PAT_BASE`,
 *   appointments in `DDB_APPT_BASE`, procedure codes in `DDB_PROC_CODE_BASE`, the codes booked on
 *   each appointment in `DDB_APPT_PROCCODE_BASE`. Every NOT NULL column (none has a default) is filled.
 * - public-query tables: definitions (`DDB_DEF_TEXT`, race/language/ethnicity the patients point
 *   at), ledger lines (`DDB_PROC_LOG_BASE`: per patient two completed procedures, an insurance and a
 *   patient payment, an adjustment), carriers (`DDB_INSURANCE_BASE`) and subscribers'
 *   coverage (`DDB_INSURED_BASE`, pointed at by the patients' `PRINSUREDID`/`SCINSUREDID`).
 * Every key a row points at exists (joined tables are filled consistently). Code values follow the
 * connector's vocabularies: RSCTYPE 0/1 are evidenced, 3 (operatory) is an assumption, appointment
 * STATUS 100/101/150 evidenced, others site-defined. Values are plausible, not real data.
 */

export interface DentrixEnterpriseSeedOptions {
  readonly patients: number;
  /** Same seed, same rows. Default `'tendril'`. */
  readonly seed?: Seed;
  /** `DDB_LAST_MOD` of every row, as office-local text `YYYY-MM-DD HH:MM:SS.mmm`. */
  readonly stamp?: string;
  /** Appointments are spread over the 60 days before and after this day (UTC date). Default 2025-03-10. */
  readonly around?: Date;
  /** The `…DB` component of every key (Dentrix's database id). Default 1. */
  readonly db?: number;
}

/** The generated rows per table, in insertion order (a row's targets come before it). */
export interface DentrixEnterpriseRows {
  readonly DDB_RSC_BASE: Record<string, unknown>[];
  readonly DDB_DEF_TEXT: Record<string, unknown>[];
  readonly DDB_INSURANCE_BASE: Record<string, unknown>[];
  readonly DDB_INSURED_BASE: Record<string, unknown>[];
  readonly DDB_PAT_BASE: Record<string, unknown>[];
  readonly DDB_APPT_BASE: Record<string, unknown>[];
  readonly DDB_PROC_CODE_BASE: Record<string, unknown>[];
  readonly DDB_APPT_PROCCODE_BASE: Record<string, unknown>[];
  readonly DDB_PROC_LOG_BASE: Record<string, unknown>[];
}

/** Counts by resource type (what each stream reads), for assertions. */
export interface DentrixEnterpriseCounts {
  readonly clinics: number;
  readonly providers: number;
  readonly operatories: number;
  readonly patients: number;
  readonly appointments: number;
  /** `DDB_PROC_CODE_BASE` rows: the `appointment-types` stream. */
  readonly procedureCodes: number;
  /** `DDB_APPT_PROCCODE_BASE` rows (each on an appointment with a patient). */
  readonly appointmentProcedures: number;
  /** Completed procedures (`CHART_STATUS` 102); each also a charge (every one has a code). */
  readonly procedures: number;
  readonly charges: number;
  /** Insurance and patient payments (`CHART_STATUS` 90, `CLASS` 3 and 1); adjustments are not counted. */
  readonly payments: number;
  /** Patients pointing at a primary / secondary coverage. */
  readonly primaryCoverage: number;
  readonly secondaryCoverage: number;
  /** Rows inserted per table, for `tendril seed`'s report. */
  readonly rowsByTable: Readonly<Record<keyof DentrixEnterpriseRows, number>>;
}

const NO_DATE = '1753-01-01 00:00:00.000';
/** "No date" in the insured table, as public queries compare it. */
const NO_COVERAGE_DATE = '1753-03-02 00:00:00.000';
/** Procedure codes: CDT-shaped ones and one site code (not CDT). */
const PROCEDURE_CODES = ['D0120', 'D1110', 'D2392', 'D2740', 'D0274', 'OFFICE1'] as const;
const CARRIERS = ['Delta Dental', 'MetLife Dental'] as const;
/** Definitions per list: race, language, ethnicity. */
const DEFINITIONS = [
  { type: DEF_TYPE.race, label: 'Race', count: 5 },
  { type: DEF_TYPE.language, label: 'Language', count: 3 },
  { type: DEF_TYPE.ethnicity, label: 'Ethnicity', count: 2 },
] as const;
const DAY_MS = 86_400_000;

function phone(random: Random): string {
  return `(${random.int(201, 989)}) 555-01${String(random.int(0, 99)).padStart(2, '0')}`;
}

function resource(
  urscid: number,
  db: number,
  type: number,
  fields: Record<string, unknown>,
  stamp: string,
): Record<string, unknown> {
  // Every NOT NULL column of DDB_RSC_BASE, then the mapped ones.
  return {
    URSCID: urscid,
    RSCDB: db,
    RSCTYPE: type,
    IsSetupOnPortal: 0,
    AllowMessaging: 0,
    AppRoleID: 0,
    TimeZoneAbbreviation: 0,
    ActiveFlag: 1,
    DDB_LAST_MOD: stamp,
    ...fields,
  };
}

/** The rows, without touching a database. */
export function generateDentrixEnterprise(options: DentrixEnterpriseSeedOptions): {
  rows: DentrixEnterpriseRows;
  counts: DentrixEnterpriseCounts;
} {
  const random = new Random(options.seed ?? 'tendril');
  const stamp = options.stamp ?? '2025-03-01 09:30:00.000';
  const db = options.db ?? 1;
  const around = options.around ?? new Date(Date.UTC(2025, 2, 10));
  const rsc: Record<string, unknown>[] = [];
  const clinics = [1, 2];
  for (const id of clinics) {
    const [city, state, zip] = random.pick(CITIES);
    rsc.push(
      resource(
        id,
        db,
        0,
        {
          RSCID: `CLIN${id}`,
          NAME_LAST: `${city} Dental Center`,
          STREET: `${random.int(10, 999)} ${random.pick(STREET_NAMES)} St`,
          CITY: city,
          STATE: state,
          ZIP: zip,
          PHONE: phone(random),
          ClinicNPI: `1${String(random.int(100_000_000, 999_999_999))}`,
        },
        stamp,
      ),
    );
  }
  const providers = [101, 102, 103, 104];
  providers.forEach((id, i) => {
    rsc.push(
      resource(
        id,
        db,
        1,
        {
          RSCID: `DDS${i + 1}`,
          NAME_LAST: random.pick(LAST_NAMES),
          NAME_FIRST: random.pick(random.chance(0.5) ? FEMALE_FIRST_NAMES : MALE_FIRST_NAMES),
          Suffix: i % 2 === 0 ? 'DDS' : 'RDH',
          STATEID: `LIC${random.int(10_000, 99_999)}`,
          PHONE: phone(random),
          ActiveFlag: i === 3 ? 0 : 1,
        },
        stamp,
      ),
    );
  });
  const operatories = [201, 202, 203];
  operatories.forEach((id, i) =>
    rsc.push(resource(id, db, 3, { RSCID: `OP${i + 1}`, NAME_LAST: `Operatory ${i + 1}` }, stamp)),
  );

  // Three in five patients have a primary coverage, one in five also a secondary one (the next
  // subscriber's): every pointer names an insured row that exists.
  const primary = Math.floor(options.patients * 0.6);
  const secondary = Math.min(Math.floor(options.patients * 0.2), Math.max(primary - 1, 0));
  const pat: Record<string, unknown>[] = [];
  for (let p = 1; p <= options.patients; p++) {
    const female = random.chance(0.52);
    const guarantor = p > 1 && random.chance(0.3) ? random.int(1, p - 1) : p;
    const born = random.dateBetween(new Date(Date.UTC(1940, 0, 1)), new Date(Date.UTC(2020, 0, 1)), {
      day: true,
    });
    pat.push({
      PATID: p,
      PATDB: db,
      FAMILYID: guarantor,
      GUARID: guarantor,
      GUARDB: db,
      PATIMAGEID: 0,
      CommunicationPref: 0,
      CONFIDENTIAL_STATE: 0,
      VipCode: 0,
      SensitivityFlag: 0,
      DNACode: 0,
      DoDUpdateAuth: 0,
      LASTNAME: random.pick(LAST_NAMES),
      FIRSTNAME: random.pick(female ? FEMALE_FIRST_NAMES : MALE_FIRST_NAMES),
      CHART: `C${String(p).padStart(6, '0')}`,
      STATUS: 1,
      // About one in twenty has no birth date: Dentrix writes SQL Server's smallest datetime.
      BIRTHDATE: random.chance(0.05) ? NO_DATE : `${born.toISOString().slice(0, 10)} 00:00:00.000`,
      HOMEPHONE: random.chance(0.7) ? phone(random) : null,
      EMAILADDRESS: random.chance(0.6) ? `patient${p}@example.com` : null,
      PRPROVID: random.pick(providers.slice(0, 2)),
      PRPROVDB: db,
      // Codes into DDB_DEF_TEXT (every one defined below), derived from the id so no random draw
      // shifts the rows other seeds already produce.
      Race: (p % 5) + 1,
      Language: (p % 3) + 1,
      EthnicityID: (p % 2) + 1,
      PRINSUREDID: p <= primary ? p : 0,
      PRINSUREDDB: p <= primary ? db : 0,
      SCINSUREDID: p <= secondary ? p + 1 : 0,
      SCINSUREDDB: p <= secondary ? db : 0,
      DDB_LAST_MOD: stamp,
    });
  }

  const appt: Record<string, unknown>[] = [];
  let apptId = 1;
  for (let p = 1; p <= options.patients; p++) {
    const visits = random.int(0, 2);
    for (let v = 0; v < visits; v++) {
      const day = new Date(around.getTime() + random.int(-60, 60) * DAY_MS).toISOString().slice(0, 10);
      const past = day < around.toISOString().slice(0, 10);
      const status = past ? random.pick([150, 150, 150, 100]) : random.pick([1, 2, 101]);
      appt.push({
        APPTID: apptId++,
        APPTDB: db,
        PATID: p,
        PATDB: db,
        OPID: random.pick(operatories),
        OPDB: db,
        PRPROVID: random.pick(providers.slice(0, 2)),
        PRPROVDB: db,
        SCPROVID: random.chance(0.4) ? providers[1] : 0,
        SCPROVDB: db,
        APPTDATE: `${day} 00:00:00.000`,
        TIME_HOUR: random.int(8, 16),
        TIME_MINUTE: random.pick([0, 10, 20, 30, 40, 50]),
        APPTLEN: random.pick([30, 40, 60, 90]),
        APPTREASON: random.pick(['Prophy', 'Comp exam', 'Crown prep', 'SRP UL']),
        STATUS: status,
        APPTTYPE: random.int(1, 4),
        CREATEDATE: `${day} 00:00:00.000`,
        WasScheduled: 1,
        WasEnabledForEventsStatus: 0,
        EStatus: 0,
        DDB_LAST_MOD: stamp,
      });
    }
  }

  const definitions = DEFINITIONS.flatMap(({ type, label, count }) =>
    Array.from({ length: count }, (_, i) => ({ DEFID: i + 1, TYPE: type, DESCRIPTION: `${label} ${i + 1}` })),
  );
  const codes = PROCEDURE_CODES.map((code, i) => ({
    PROC_CODEID: i + 1,
    PROC_CODEDB: db,
    ADACODE: code,
    DESCRIPTION: `Code ${code}`,
    MINLEN: 30,
    IsActive: 1,
    PROVID: 0,
    PROVDB: 0,
    isDefProv: 0,
    MPROVID: 0,
    MPROVDB: 0,
    IsRequireUdi: 0,
    IsRequireAttachment: 0,
    DDB_LAST_MOD: stamp,
  }));
  // One code booked on every appointment.
  const booked = appt.map((a, i) => ({
    APPTPROCID: i + 1,
    APPTPROCDB: db,
    APPTID: a['APPTID'],
    APPTDB: db,
    PROCCODEID: (i % codes.length) + 1,
    PROCCODEDB: db,
    PROCCODETYPE: 0,
    DDB_LAST_MOD: stamp,
  }));
  // Ledger lines a month before `around`: per patient two completed procedures, an insurance and
  // a patient payment, an adjustment (not read by any stream).
  const ledgerDay = `${new Date(around.getTime() - 28 * DAY_MS).toISOString().slice(0, 10)} 00:00:00.000`;
  const lines: Record<string, unknown>[] = [];
  let lineId = 1;
  for (let p = 1; p <= options.patients; p++) {
    const line = (chartStatus: number, cls: number, amount: number, code: number) => ({
      PROC_LOGID: lineId++,
      PROC_LOGDB: db,
      PATID: p,
      PATDB: db,
      PROVID: providers[0],
      PROVDB: db,
      GUARID: p,
      GUARDB: db,
      PROC_CODEID: code,
      PROC_CODEDB: code ? db : 0,
      PLDATE: ledgerDay,
      CREATEDATE: stamp,
      CHART_STATUS: chartStatus,
      CLASS: cls,
      AMOUNT: amount,
      TOOTH_RANGE_START: 0,
      TOOTH_RANGE_END: 0,
      ClinicAppliedTo: clinics[0],
      DDB_LAST_MOD: stamp,
    });
    const { completedProcedure: done } = CHART_STATUS;
    const { ledgerTransaction: ledger } = CHART_STATUS;
    lines.push(
      line(done, 0, 9500, (p % 4) + 1),
      line(done, 0, 12000, (p % 4) + 2),
      line(ledger, LEDGER_CLASS.insurancePayment, 7000, 0),
      line(ledger, LEDGER_CLASS.patientPayment, 2500, 0),
      line(ledger, LEDGER_CLASS.adjustment, -300, 0),
    );
  }
  const carriers = CARRIERS.map((name, i) => ({ INSID: i + 1, INSDB: db, INSCONAME: name }));
  const insured = Array.from({ length: primary }, (_, i) => ({
    INSUREDID: i + 1,
    INSUREDDB: db,
    INSID: (i % carriers.length) + 1,
    INSDB: db,
    IDNUM: `M${1000 + i}`,
    IDNUM2: `G${i % 7}`,
    EffectiveDate: '2024-01-01 00:00:00.000',
    ExpirationDate: NO_COVERAGE_DATE,
  }));

  const rows: DentrixEnterpriseRows = {
    DDB_RSC_BASE: rsc,
    DDB_DEF_TEXT: definitions,
    DDB_INSURANCE_BASE: carriers,
    DDB_INSURED_BASE: insured,
    DDB_PAT_BASE: pat,
    DDB_APPT_BASE: appt,
    DDB_PROC_CODE_BASE: codes,
    DDB_APPT_PROCCODE_BASE: booked,
    DDB_PROC_LOG_BASE: lines,
  };
  const procedures = lines.filter((l) => l.CHART_STATUS === CHART_STATUS.completedProcedure).length;
  return {
    rows,
    counts: {
      clinics: clinics.length,
      providers: providers.length,
      operatories: operatories.length,
      patients: pat.length,
      appointments: appt.length,
      procedureCodes: codes.length,
      appointmentProcedures: booked.length,
      procedures,
      charges: procedures,
      payments: lines.filter(
        (l) =>
          l.CHART_STATUS === CHART_STATUS.ledgerTransaction &&
          (l.CLASS === LEDGER_CLASS.insurancePayment || l.CLASS === LEDGER_CLASS.patientPayment),
      ).length,
      primaryCoverage: primary,
      secondaryCoverage: secondary,
      rowsByTable: Object.fromEntries(
        (Object.entries(rows) as [string, readonly unknown[]][]).map(([table, list]) => [table, list.length]),
      ) as Record<keyof DentrixEnterpriseRows, number>,
    },
  };
}

/**
 * Generates the rows and inserts them (any knex dialect holding the tables). In the fixture's
 * tables every generated column exists and the optional ones are nullable: a row that does not
 * set one gets NULL, as before. Tables created from the connector's declarations (`tendril seed`)
 * hold only the declared columns, NOT NULL with a default: the vendor's other columns are left
 * out there, and a row that does not set a column gets the default.
 */
export async function seedDentrixEnterprise(
  knex: Knex,
  options: DentrixEnterpriseSeedOptions,
): Promise<DentrixEnterpriseCounts> {
  const { rows, counts } = generateDentrixEnterprise(options);
  const tables = Object.entries(rows) as [string, Record<string, unknown>[]][];
  for (const [table, list] of tables) {
    const info = await knex(table).columnInfo();
    const columns = [...new Set(list.flatMap((row) => Object.keys(row)))].filter((c) => c in info);
    // Rows of one table do not all set the same optional columns: insert batches of one shape.
    const byShape = new Map<string, Record<string, unknown>[]>();
    for (const row of list) {
      const complete: Record<string, unknown> = {};
      for (const column of columns) {
        if (row[column] !== undefined && row[column] !== null) complete[column] = row[column];
        else if (info[column]!.nullable) complete[column] = null;
      }
      const shape = Object.keys(complete).join(',');
      byShape.set(shape, [...(byShape.get(shape) ?? []), complete]);
    }
    for (const batch of byShape.values()) {
      for (let i = 0; i < batch.length; i += 200) {
        try {
          await knex(table).insert(batch.slice(i, i + 200));
        } catch (error) {
          // The driver's message quotes the generated rows: keep it out of the error's text.
          throw new TendrilError(
            'TENDRIL_E_SEED',
            `inserting generated rows into ${table} failed; the cause is attached`,
            {
              cause: error,
              details: { table },
            },
          );
        }
      }
    }
  }
  return counts;
}
