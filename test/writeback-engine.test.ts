import {
  ConnectionConfig,
  defineConnector,
  defineTable,
  defineWriteback,
  resourceId,
  rule,
  sqlDb,
  t,
  WritebackConnectionConfig,
  type WritebackCommand,
  type WritebackDeclaration,
} from '@tendril/core';
import { createWritebackSql } from '@tendril/sql';
import knexFactory from 'knex';
import { describe, expect, it } from 'vitest';
import { runDeclaredCommand } from '@tendril/scheduler';

const patients = defineTable({
  resourceType: 'Patient',
  table: 'pat',
  key: ['id'],
  columns: { id: 'int', last: 'varchar(50)', first: 'varchar(50)', dead: 'date', stamp: 'datetime' },
  cursor: { mode: 'timestamp', column: 'stamp', clock: 'client', precision: 0 },
  fields: {
    name: t.humanName({ family: 'last', given: ['first'] }),
    deceased: t.compute(['dead'], ([dead]) => (dead ? true : undefined)),
  },
});
const appointments = defineTable({
  resourceType: 'Appointment',
  table: 'appt',
  key: ['id'],
  columns: { id: 'int', pat: 'int', status: 'int', note: 'varchar(99)' },
  cursor: { mode: 'snapshot' },
  fields: {
    patientId: t.ref('Patient', 'pat'),
    status: t.col('status', t.lookup({ 1: 'booked', 2: 'cancelled' })),
    note: t.col('note', t.str()),
  },
});
const CONNECTION = 'c1';
const PATIENT = resourceId(CONNECTION, 'Patient', '5');
const APPOINTMENT = resourceId(CONNECTION, 'Appointment', '9');

function setup(commands: WritebackDeclaration['commands'], rows: Record<string, Record<string, unknown>[]>) {
  const writeback = defineWriteback({
    path: 'sql',
    verification: 'a test',
    streams: { patients, appointments },
    readBack: { Patient: 'patients' },
    tables: {
      appointments: { stream: 'appointments', emptyText: '', insertDefaults: { status: 1 } },
      patients: { stream: 'patients' },
    },
    commands,
  });
  const connector = defineConnector({
    id: 'acme',
    displayName: 'Acme',
    dialects: ['mysql'],
    versions: ['1'],
    verification: { level: 'provisional', against: 'nothing' },
    // Any schema: the engine reads only the options already in the connection.
    optionsSchema: WritebackConnectionConfig,
    streams: { patients, appointments },
    writeback,
  });
  const connection = ConnectionConfig.parse({
    id: CONNECTION,
    connector: 'acme',
    timezone: 'America/Phoenix',
    database: { url: 'mysql://x/y' },
    writeback: { enabled: true, database: { url: 'mysql://x/y' } },
  });
  const sent: { sql: string; bindings: readonly unknown[] }[] = [];
  const sql = createWritebackSql({
    knex: knexFactory({ client: 'mysql2' }),
    dialect: 'mysql',
    timezone: 'America/Phoenix',
    now: () => new Date('2030-01-01T17:00:00Z'),
    run: async (statement) => {
      sent.push(statement.query.toSQL().toNative());
      if (statement.kind === 'select') return rows[statement.table.table] ?? [];
      return statement.kind === 'insert' ? [77] : 1;
    },
  });
  const run = (command: WritebackCommand, input: Record<string, unknown>) =>
    runDeclaredCommand({
      command,
      declaration: connector.writeback!.commands[command]!.paths.sql!,
      connector,
      connection,
      settings: connection.writeback!,
      input,
      sourceIdOf: async (type, id) =>
        id === PATIENT ? '5' : id === APPOINTMENT ? '9' : type === 'Location' ? 'op:1' : undefined,
      now: () => new Date('2030-01-01T17:00:00Z'),
      sql,
    });
  return { run, sent };
}

describe('the writeback engine', () => {
  it('re-reads references through their stream and refuses a deceased patient before the run step', async () => {
    let ran = false;
    const { run } = setup(
      {
        'Appointment.cancel': {
          writes: { appointments: ['UPDATE'] },
          refs: { appointmentId: 'appointments' } as never,
          async run() {
            ran = true;
            return { ok: true, sourceId: '9' };
          },
        },
        'Patient.update': {
          writes: { patients: ['UPDATE'] },
          refs: { patientId: 'patients' },
          async run() {
            ran = true;
            return { ok: true, sourceId: '5' };
          },
        },
      },
      { pat: [{ id: 5, last: 'Doe', first: 'Jo', dead: '2020-01-01' }] },
    );
    expect(
      await run('Patient.update', { patientId: PATIENT, name: { family: 'Doe', given: ['Jo'] } }),
    ).toEqual({
      ok: false,
      code: 'inactive',
      message: 'patientId: the patient is marked deceased',
      details: { field: 'patientId' },
    });
    expect(await run('Patient.update', { patientId: resourceId(CONNECTION, 'Patient', '6') })).toMatchObject({
      code: 'not_found',
    });
    expect(ran).toBe(false);
  });

  it('checks the target’s model status, and the run step writes only the declared tables and columns', async () => {
    const { run, sent } = setup(
      {
        'Appointment.cancel': {
          writes: { appointments: ['UPDATE'] },
          rules: [rule.setting('cancelStatus', { oneOf: ['2'] }, 'cancelStatus must be 2')],
          target: {
            field: 'appointmentId',
            stream: 'appointments',
            status: { in: ['booked'], message: 'not booked' },
          },
          async run(ctx, _input, { target }) {
            await sqlDb(ctx).update('appointments', { status: 2, note: undefined }, { id: target!.key[0]! });
            return { ok: true, sourceId: target!.sourceId };
          },
        },
        'Appointment.confirm': {
          writes: { appointments: ['UPDATE'] },
          async run(ctx) {
            await sqlDb(ctx).insert('appointments', { id: 1 });
            return { ok: true, sourceId: '1' };
          },
        },
        'Appointment.book': {
          writes: { appointments: ['INSERT'] },
          async run(ctx) {
            await sqlDb(ctx).insert('appointments', { id: 1, ssn: '000' });
            return { ok: true, sourceId: '1' };
          },
        },
      },
      { appt: [{ id: 9, pat: 5, status: 1 }] },
    );
    expect(await run('Appointment.cancel', { appointmentId: APPOINTMENT })).toEqual({
      ok: true,
      sourceId: '9',
      asserted: {},
    });
    // Locked read of the target, then the update: "no value" is the table's '' and the filter is the key.
    expect(sent.map((s) => s.sql)).toEqual([
      'select `id`, `pat`, `status`, `note` from `appt` where `id` = ? for update',
      'update `appt` set `status` = ?, `note` = ? where `id` = ?',
    ]);
    expect(sent[1]!.bindings).toEqual([2, '', '9']);
    await expect(run('Appointment.confirm', { appointmentId: APPOINTMENT })).rejects.toThrow(
      /does not declare INSERT on "appointments"/,
    );
    await expect(
      run('Appointment.book', { patientId: PATIENT, practitionerIds: [PATIENT], start: 'x', end: 'y' }),
    ).rejects.toThrow(/no declared column "ssn"/);
  });
});
