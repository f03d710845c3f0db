import type { Knex } from 'knex';
import { TendrilError } from '@tendril/core';
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
 * A small deterministic data set for the Dentrix Enterprise 11.0 tables (`fixtures/dentrix-enterprise`):
 * clinics, providers and operatories in `DDB_RSC_BASE`, patients in `DDB_PAT_BASE`, appointments in
 * `DDB_APPT_BASE`. Every NOT NULL column of those tables (none has a default) is filled. Code values
 * follow the connector's vocabularies: RSCTYPE 0/1 are evidenced, 3 (operatory) is an assumption,
 * appointment STATUS 100/101/150 evidenced, others site-defined. Values are plausible, not real data.
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

export interface DentrixEnterpriseRows {
  readonly DDB_RSC_BASE: Record<string, unknown>[];
  readonly DDB_PAT_BASE: Record<string, unknown>[];
  readonly DDB_APPT_BASE: Record<string, unknown>[];
}

/** Counts by resource type, for assertions. */
export interface DentrixEnterpriseCounts {
  readonly clinics: number;
  readonly providers: number;
  readonly operatories: number;
  readonly patients: number;
  readonly appointments: number;
}

const NO_DATE = '1753-01-01 00:00:00.000';
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
  return {
    rows: { DDB_RSC_BASE: rsc, DDB_PAT_BASE: pat, DDB_APPT_BASE: appt },
    counts: {
      clinics: clinics.length,
      providers: providers.length,
      operatories: operatories.length,
      patients: pat.length,
      appointments: appt.length,
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
