/**
 * Test support (not shipped): rows for the Dentrix Enterprise tables the data generator
 * (`seedDentrixEnterprise` in @tendril/testing) does not fill yet. Used by the sync test and the
 * contract suite; to be replaced when the generator covers these streams.
 */
import type { SqlClient } from '@tendril/sql';

/** Rows of the streams the data generator does not fill yet, and what each stream should read. */
export interface ExtraCounts {
  readonly procedureCodes: number;
  readonly appointmentProcedures: number;
  readonly procedures: number;
  readonly charges: number;
  readonly payments: number;
  readonly primaryCoverage: number;
  readonly secondaryCoverage: number;
}

/**
 * Fills the tables the generator (`seedDentrixEnterprise`, @tendril/testing) does not fill yet:
 * definitions, procedure codes, codes booked on appointments, ledger lines (procedures, payments,
 * adjustments) and coverage. Written here until the generator covers them; deterministic.
 */
export async function seedPublicQueryRows(
  sql: SqlClient,
  patients: number,
  stamp: string,
): Promise<ExtraCounts> {
  const knex = sql.knex;
  await knex('DDB_DEF_TEXT').insert([
    ...[1, 2, 3, 4, 5].map((id) => ({ DEFID: id, TYPE: 100, DESCRIPTION: `Race ${id}` })),
    ...[1, 2, 3].map((id) => ({ DEFID: id, TYPE: 101, DESCRIPTION: `Language ${id}` })),
    ...[1, 2].map((id) => ({ DEFID: id, TYPE: 115, DESCRIPTION: `Ethnicity ${id}` })),
  ]);
  await knex('DDB_PAT_BASE').update({
    Race: knex.raw('MOD(PATID, 5) + 1'),
    Language: knex.raw('MOD(PATID, 3) + 1'),
    EthnicityID: knex.raw('MOD(PATID, 2) + 1'),
  });
  const codes = ['D0120', 'D1110', 'D2392', 'D2740', 'D0274', 'OFFICE1'];
  await knex('DDB_PROC_CODE_BASE').insert(
    codes.map((code, i) => ({
      PROC_CODEID: i + 1,
      PROC_CODEDB: 1,
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
    })),
  );
  const appointments = await knex('DDB_APPT_BASE').select('APPTID', 'APPTDB').orderBy('APPTID');
  await knex.batchInsert(
    'DDB_APPT_PROCCODE_BASE',
    appointments.map((a: { APPTID: number; APPTDB: number }, i: number) => ({
      APPTPROCID: i + 1,
      APPTPROCDB: 1,
      APPTID: a.APPTID,
      APPTDB: a.APPTDB,
      PROCCODEID: (i % codes.length) + 1,
      PROCCODEDB: 1,
      PROCCODETYPE: 0,
      DDB_LAST_MOD: stamp,
    })),
    100,
  );
  // Per patient: two completed procedures, an insurance and a patient payment, an adjustment.
  const lines: Record<string, unknown>[] = [];
  let id = 1;
  for (let p = 1; p <= patients; p++) {
    const line = (chartStatus: number, cls: number, amount: number, code: number) => ({
      PROC_LOGID: id++,
      PROC_LOGDB: 1,
      PATID: p,
      PATDB: 1,
      PROVID: 101,
      PROVDB: 1,
      GUARID: p,
      GUARDB: 1,
      PROC_CODEID: code,
      PROC_CODEDB: code ? 1 : 0,
      PLDATE: '2025-02-10 00:00:00.000',
      CREATEDATE: stamp,
      CHART_STATUS: chartStatus,
      CLASS: cls,
      AMOUNT: amount,
      TOOTH_RANGE_START: 0,
      TOOTH_RANGE_END: 0,
      ClinicAppliedTo: 1,
      DDB_LAST_MOD: stamp,
    });
    lines.push(
      line(102, 0, 9500, (p % 4) + 1),
      line(102, 0, 12000, (p % 4) + 2),
      line(90, 3, 7000, 0),
      line(90, 1, 2500, 0),
      line(90, 2, -300, 0),
    );
  }
  await knex.batchInsert('DDB_PROC_LOG_BASE', lines, 200);
  await knex('DDB_INSURANCE_BASE').insert([
    { INSID: 1, INSDB: 1, INSCONAME: 'Delta Dental' },
    { INSID: 2, INSDB: 1, INSCONAME: 'MetLife Dental' },
  ]);
  const primary = Math.floor(patients * 0.6);
  const secondary = Math.floor(patients * 0.2);
  await knex.batchInsert(
    'DDB_INSURED_BASE',
    Array.from({ length: primary }, (_, i) => ({
      INSUREDID: i + 1,
      INSUREDDB: 1,
      INSID: (i % 2) + 1,
      INSDB: 1,
      IDNUM: `M${1000 + i}`,
      IDNUM2: `G${i % 7}`,
      EffectiveDate: '2024-01-01 00:00:00.000',
      ExpirationDate: '1753-03-02 00:00:00.000',
    })),
    100,
  );
  await knex('DDB_PAT_BASE')
    .where('PATID', '<=', primary)
    .update({ PRINSUREDID: knex.raw('PATID'), PRINSUREDDB: 1 });
  await knex('DDB_PAT_BASE')
    .where('PATID', '<=', secondary)
    .update({ SCINSUREDID: knex.raw('PATID + 1'), SCINSUREDDB: 1 });
  return {
    procedureCodes: codes.length,
    appointmentProcedures: appointments.length,
    procedures: patients * 2,
    charges: patients * 2,
    payments: patients * 2,
    primaryCoverage: primary,
    secondaryCoverage: secondary,
  };
}
