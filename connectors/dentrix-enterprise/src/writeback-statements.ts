import { TendrilError } from '@tendril/core';

/** One statement: text with `?` placeholders (every value bound) and its bindings. */
export interface Statement {
  readonly sql: string;
  readonly bindings: readonly unknown[];
}

/** The dialects the Dentrix Enterprise writer speaks: SQL Server in production form, MariaDB for the fixture. */
export type WriteDialect = 'mssql' | 'mysql';

export function writeDialect(dialect: string): WriteDialect {
  if (dialect === 'mssql' || dialect === 'mysql') return dialect;
  throw new TendrilError(
    'TENDRIL_E_DB_DIALECT',
    `Dentrix Enterprise writeback runs on mssql (or mysql for the fixture schema), not ${dialect}`,
  );
}

/**
 * A locking read of `table`: SQL Server takes update locks held to the end of the transaction
 * (`WITH (UPDLOCK, HOLDLOCK)`: key-range locks, so a concurrent insert into the range waits,
 * writeback.md §5); InnoDB takes `FOR UPDATE` on the rows and gaps it scans.
 */
function locked(dialect: WriteDialect, columns: string, table: string, where: string): string {
  return dialect === 'mssql'
    ? `SELECT ${columns} FROM ${table} WITH (UPDLOCK, HOLDLOCK) WHERE ${where}`
    : `SELECT ${columns} FROM ${table} WHERE ${where} FOR UPDATE`;
}

/** The appointment columns a new row gets (Tendril's own choice of values is in the handler). */
export const APPOINTMENT_INSERT_COLUMNS = [
  'APPTID',
  'APPTDB',
  'PATID',
  'PATDB',
  'OPID',
  'OPDB',
  'PRPROVID',
  'PRPROVDB',
  'SCPROVID',
  'SCPROVDB',
  'APPTDATE',
  'TIME_HOUR',
  'TIME_MINUTE',
  'APPTLEN',
  'APPTREASON',
  'STATUS',
  'CREATEDATE',
  'DDB_LAST_MOD',
  'ApptStartUTCDateTime',
  'ApptEndUTCDateTime',
  'EntrySystem',
  'LastUpdateSystem',
  'WasScheduled',
  'WasEnabledForEventsStatus',
  'EStatus',
] as const;

export const PATIENT_INSERT_COLUMNS = [
  'PATID',
  'PATDB',
  'FAMILYID',
  'GUARID',
  'GUARDB',
  'PRPROVID',
  'PRPROVDB',
  'LASTNAME',
  'FIRSTNAME',
  'MiddleName',
  'TITLE',
  'Suffix',
  'BIRTHDATE',
  'HOMEPHONE',
  'WKPHONE',
  'OTHERPHONE',
  'EMAILADDRESS',
  'DDB_LAST_MOD',
  'PATIMAGEID',
  'CommunicationPref',
  'CONFIDENTIAL_STATE',
  'VipCode',
  'SensitivityFlag',
  'DNACode',
  'DoDUpdateAuth',
] as const;

/**
 * Every statement the Dentrix Enterprise writer sends, per dialect. Kept apart from the handlers
 * so the T-SQL of each one is snapshot-tested (`test/writeback-dentrix-enterprise.test.ts`)
 * while the same handlers run for real on the MariaDB form of the schema.
 */
export function dentrixStatements(dialect: WriteDialect) {
  return {
    /** A row of the resource table (clinic, provider, operatory), for existence and activity. */
    resource: (id: string, db: string): Statement => ({
      sql: 'SELECT URSCID, RSCDB, RSCTYPE, ActiveFlag FROM DDB_RSC_BASE WHERE URSCID = ? AND RSCDB = ?',
      bindings: [id, db],
    }),
    patient: (id: string, db: string): Statement => ({
      sql: 'SELECT PATID, PATDB, PatientDeathDate FROM DDB_PAT_BASE WHERE PATID = ? AND PATDB = ?',
      bindings: [id, db],
    }),
    /** The office day's appointments, locked until commit: the slot check's read (writeback.md §5). */
    dayAppointments: (dayStart: string, nextDayStart: string): Statement => ({
      sql: locked(
        dialect,
        'APPTID, APPTDB, OPID, OPDB, PRPROVID, PRPROVDB, SCPROVID, SCPROVDB, TIME_HOUR, TIME_MINUTE, APPTLEN, STATUS',
        'DDB_APPT_BASE',
        'APPTDATE >= ? AND APPTDATE < ?',
      ),
      bindings: [dayStart, nextDayStart],
    }),
    /** The next APPTID of one APPTDB (the fixture has no identity column), under the same lock. */
    nextAppointmentId: (db: string): Statement => ({
      sql: locked(dialect, 'COALESCE(MAX(APPTID), 0) + 1 AS NEXTID', 'DDB_APPT_BASE', 'APPTDB = ?'),
      bindings: [db],
    }),
    insertAppointment: (
      values: Readonly<Record<(typeof APPOINTMENT_INSERT_COLUMNS)[number], unknown>>,
    ): Statement => ({
      sql: `INSERT INTO DDB_APPT_BASE (${APPOINTMENT_INSERT_COLUMNS.join(', ')}) VALUES (${APPOINTMENT_INSERT_COLUMNS.map(() => '?').join(', ')})`,
      bindings: APPOINTMENT_INSERT_COLUMNS.map((c) => values[c]),
    }),
    lockAppointment: (id: string, db: string): Statement => ({
      sql: locked(
        dialect,
        'APPTID, APPTDB, PATID, PATDB, OPID, OPDB, PRPROVID, PRPROVDB, SCPROVID, SCPROVDB, STATUS',
        'DDB_APPT_BASE',
        'APPTID = ? AND APPTDB = ?',
      ),
      bindings: [id, db],
    }),
    /** Compare-and-set on the status read under lock: 1 row or a conflict. */
    setAppointmentStatus: (
      id: string,
      db: string,
      expectedStatus: number | null,
      status: number,
      lastMod: string,
    ): Statement => ({
      sql: `UPDATE DDB_APPT_BASE SET STATUS = ?, DDB_LAST_MOD = ?, LastUpdateSystem = ? WHERE APPTID = ? AND APPTDB = ? AND ${expectedStatus === null ? 'STATUS IS NULL' : 'STATUS = ?'}`,
      bindings: [status, lastMod, 'Tendril', id, db, ...(expectedStatus === null ? [] : [expectedStatus])],
    }),
    breakAppointment: (
      id: string,
      db: string,
      expectedStatus: number | null,
      status: number,
      brokenDate: string,
      reason: string | null,
      lastMod: string,
    ): Statement => ({
      sql: `UPDATE DDB_APPT_BASE SET STATUS = ?, BROKENDATE = ?, BROKENREASON = ?, DDB_LAST_MOD = ?, LastUpdateSystem = ? WHERE APPTID = ? AND APPTDB = ? AND ${expectedStatus === null ? 'STATUS IS NULL' : 'STATUS = ?'}`,
      bindings: [
        status,
        brokenDate,
        reason,
        lastMod,
        'Tendril',
        id,
        db,
        ...(expectedStatus === null ? [] : [expectedStatus]),
      ],
    }),
    moveAppointment: (
      id: string,
      db: string,
      slot: {
        apptDate: string;
        hour: number;
        minute: number;
        length: number;
        utcStart: string;
        utcEnd: string;
      },
      op: { id: string; db: string },
      providers: { prId: string; prDb: string; scId: string | null; scDb: string | null },
      lastMod: string,
    ): Statement => ({
      sql: 'UPDATE DDB_APPT_BASE SET APPTDATE = ?, TIME_HOUR = ?, TIME_MINUTE = ?, APPTLEN = ?, ApptStartUTCDateTime = ?, ApptEndUTCDateTime = ?, OPID = ?, OPDB = ?, PRPROVID = ?, PRPROVDB = ?, SCPROVID = ?, SCPROVDB = ?, DDB_LAST_MOD = ?, LastUpdateSystem = ? WHERE APPTID = ? AND APPTDB = ?',
      bindings: [
        slot.apptDate,
        slot.hour,
        slot.minute,
        slot.length,
        slot.utcStart,
        slot.utcEnd,
        op.id,
        op.db,
        providers.prId,
        providers.prDb,
        providers.scId,
        providers.scDb,
        lastMod,
        'Tendril',
        id,
        db,
      ],
    }),
    /** Match-before-create candidates (writeback.md §2), locked so two creates of one person serialise. */
    patientCandidates: (
      lastName: string,
      firstName: string,
      birthDay: string,
      nextDay: string,
    ): Statement => ({
      sql: locked(
        dialect,
        'PATID, PATDB, LASTNAME, FIRSTNAME, HOMEPHONE, WKPHONE, OTHERPHONE, EMAILADDRESS',
        'DDB_PAT_BASE',
        'LASTNAME = ? AND FIRSTNAME = ? AND BIRTHDATE >= ? AND BIRTHDATE < ?',
      ),
      bindings: [lastName, firstName, birthDay, nextDay],
    }),
    /** The PATDB a single-database site uses, when the request names no office or provider. */
    defaultPatientDb: (): Statement => ({
      sql: 'SELECT MIN(PATDB) AS PATDB FROM DDB_PAT_BASE',
      bindings: [],
    }),
    nextPatientId: (db: string): Statement => ({
      sql: locked(dialect, 'COALESCE(MAX(PATID), 0) + 1 AS NEXTID', 'DDB_PAT_BASE', 'PATDB = ?'),
      bindings: [db],
    }),
    insertPatient: (
      values: Readonly<Record<(typeof PATIENT_INSERT_COLUMNS)[number], unknown>>,
    ): Statement => ({
      sql: `INSERT INTO DDB_PAT_BASE (${PATIENT_INSERT_COLUMNS.join(', ')}) VALUES (${PATIENT_INSERT_COLUMNS.map(() => '?').join(', ')})`,
      bindings: PATIENT_INSERT_COLUMNS.map((c) => values[c]),
    }),
  };
}
