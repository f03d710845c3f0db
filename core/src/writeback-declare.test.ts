import { describe, expect, it } from 'vitest';
import { defineConnector } from './connector.js';
import { defineTable } from './sdk.js';
import * as t from './transforms.js';
import { defineWriteback, tablesWritten, type WritebackDeclaration } from './writeback-declare.js';
import { z } from 'zod';

const patients = defineTable({
  resourceType: 'Patient',
  table: 'pat',
  key: ['id'],
  columns: {
    id: 'int',
    last: 'varchar(50)',
    first: 'varchar(50)',
    dob: 'date',
    cell: 'varchar(20)',
    stamp: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'stamp', clock: 'db-local' },
  fields: {
    name: t.humanName({ family: 'last', given: ['first'] }),
    birthDate: t.col('dob', t.date()),
    telecom: t.contactPoints([{ column: 'cell', system: 'phone', use: 'mobile' }]),
  },
});
const appointments = defineTable({
  resourceType: 'Appointment',
  table: 'appt',
  key: ['id'],
  columns: { id: 'int', day: 'date', pat: 'int' },
  cursor: { mode: 'snapshot' },
  fields: { patientId: t.ref('Patient', 'pat') },
});
const run = async () => ({ ok: true as const, sourceId: '1' });
const base: WritebackDeclaration = {
  path: 'sql',
  verification: 'a test',
  streams: { patients, appointments },
  readBack: { Patient: 'patients' },
  tables: {
    patients: { stream: 'patients', writeOnly: { created: 'datetime' } },
    log: { table: 'log', columns: { id: 'int' } },
  },
  match: { stream: 'patients', family: 'last', given: 'first', birthDate: 'dob' },
  slot: {
    stream: 'appointments',
    dayColumn: 'day',
    operatory: false,
    practitioner: true,
    frees: ['cancelled'],
  },
  commands: {
    'Patient.create': { writes: { patients: ['INSERT'], log: ['INSERT'] }, match: true, run },
    'Appointment.book': { writes: { log: ['INSERT'] }, refs: { patientId: 'patients' }, slot: true, run },
  },
};
const problem = (change: Partial<WritebackDeclaration>) => () => defineWriteback({ ...base, ...change });

describe('defineWriteback', () => {
  it('normalises each command under its path and derives the grants from what the commands write', () => {
    const definition = defineWriteback(base);
    expect(Object.keys(definition.commands['Patient.create']!.paths)).toEqual(['sql']);
    expect([...tablesWritten(definition)].map(([table, rights]) => [table, [...rights]])).toEqual([
      ['pat', ['INSERT']],
      ['log', ['INSERT']],
    ]);
  });

  it('refuses, at load time, declarations that name what does not exist', () => {
    expect(
      problem({ commands: { 'Patient.create': { writes: { patients: ['INSERT'] } } as never } }),
    ).toThrow(/declare run/);
    expect(problem({ commands: { 'Patient.create': { run } } })).toThrow(/lists the tables it writes/);
    expect(problem({ commands: { 'Patient.create': { writes: { nowhere: ['INSERT'] }, run } } })).toThrow(
      /"nowhere", which tables does not declare/,
    );
    expect(problem({ commands: { 'Patient.fly': { run } } as never })).toThrow(/not a command/);
    expect(
      problem({
        commands: {
          'Appointment.book': { writes: { log: ['INSERT'] }, refs: { patientId: 'appointments' }, run },
        },
      }),
    ).toThrow(/reads Appointment, not Patient/);
    expect(problem({ tables: { patients: { stream: 'patients', writeOnly: { dob: 'date' } } } })).toThrow(
      /dob is declared by stream patients already/,
    );
    expect(problem({ tables: { patients: { stream: 'missing' } } })).toThrow(/names stream "missing"/);
    expect(problem({ slot: { ...base.slot!, dayColumn: 'nope' } })).toThrow(/slot.dayColumn nope/);
    expect(problem({ match: { ...base.match!, family: 'first', given: 'cell' } })).toThrow(
      /cell is not a column of patients's name/,
    );
    expect(
      problem({ path: 'vendor-api', tables: {}, commands: { 'Appointment.book': { slot: true, run } } }),
    ).toThrow(/needs sources/);
  });

  it('is accepted by defineConnector only with the connector’s own streams', () => {
    const writeback = defineWriteback(base);
    const connector = {
      id: 'acme',
      displayName: 'Acme',
      dialects: ['mysql'] as const,
      versions: ['1'],
      verification: { level: 'provisional' as const, against: 'nothing' },
      optionsSchema: z.object({}),
      writeback,
    };
    expect(() => defineConnector({ ...connector, streams: { patients, appointments } })).not.toThrow();
    const other = defineTable({ ...patients });
    expect(() => defineConnector({ ...connector, streams: { patients: other, appointments } })).toThrow(
      /writeback stream "patients" is not the connector's stream/,
    );
  });
});
