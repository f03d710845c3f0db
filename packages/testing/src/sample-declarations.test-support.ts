import { defineTable, type TableDefinition } from '@tendril/core';

/**
 * A small, hand-written subset of Open Dental table declarations for this package's own tests:
 * patient, appointment (with the deletedobject delete log) and procedurelog joined to
 * procedurecode. Names and types are copied from fixtures/opendental/opendental_24.3_schema.sql.
 * The real declarations live in connectors/open-dental; these stay small on purpose so a test
 * proves the generator copes with a schema that holds only some of Open Dental's columns.
 */
export const SAMPLE_PATIENT = defineTable({
  resourceType: 'Patient',
  table: 'patient',
  key: ['PatNum'],
  columns: {
    PatNum: 'bigint(20)',
    LName: 'varchar(100)',
    FName: 'varchar(100)',
    Birthdate: 'date',
    Gender: 'tinyint',
    PatStatus: 'tinyint',
    Address: 'varchar(100)',
    City: 'varchar(100)',
    HmPhone: 'varchar(30)',
    Email: 'varchar(100)',
    Guarantor: 'bigint(20)',
    EstBalance: 'double',
    AddrNote: 'text',
    DateTimeDeceased: 'datetime',
    DateTStamp: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  deletedWhen: { PatStatus: 4 },
  fields: {},
});

export const SAMPLE_APPOINTMENT = defineTable({
  resourceType: 'Appointment',
  table: 'appointment',
  key: ['AptNum'],
  columns: {
    AptNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    AptStatus: 'tinyint',
    Pattern: 'varchar(255)',
    AptDateTime: 'datetime',
    Op: 'bigint(20)',
    ProvNum: 'bigint(20)',
    Note: 'text',
    DateTStamp: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0 },
  excludeWhen: { AptStatus: { in: [6, 7, 8] } },
  deleteLog: {
    table: 'deletedobject',
    key: ['DeletedObjectNum'],
    columns: {
      DeletedObjectNum: 'bigint(20)',
      ObjectNum: 'bigint(20)',
      ObjectType: 'int(11)',
      DateTStamp: 'timestamp',
    },
    cursor: { column: 'DateTStamp', clock: 'db-utc', precision: 0 },
    deletedKeyColumn: 'ObjectNum',
    where: { ObjectType: 0 },
  },
  fields: {},
});

export const SAMPLE_PROCEDURE = defineTable({
  resourceType: 'Procedure',
  table: 'procedurelog',
  key: ['ProcNum'],
  columns: {
    ProcNum: 'bigint(20)',
    PatNum: 'bigint(20)',
    AptNum: 'bigint(20)',
    ProcDate: 'date',
    ProcFee: 'double',
    ProcStatus: 'tinyint',
    ToothNum: 'varchar(2)',
    Surf: 'varchar(10)',
    CodeNum: 'bigint(20)',
    DateTStamp: 'timestamp',
  },
  cursor: { mode: 'timestamp', column: 'DateTStamp', clock: 'db-utc', precision: 0, also: ['pc.DateTStamp'] },
  joins: [
    {
      table: 'procedurecode',
      alias: 'pc',
      on: { CodeNum: 'CodeNum' },
      key: ['CodeNum'],
      columns: {
        CodeNum: 'bigint(20)',
        ProcCode: 'varchar(15)',
        Descript: 'varchar(255)',
        DateTStamp: 'timestamp',
      },
    },
  ],
  fields: {},
});

export const SAMPLE_TABLES: readonly TableDefinition[] = [
  SAMPLE_PATIENT,
  SAMPLE_APPOINTMENT,
  SAMPLE_PROCEDURE,
];
