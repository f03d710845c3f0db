import { describe, expect, it } from 'vitest';
import { validateConfig, type ConnectorCatalog } from './config.js';
import { isTendrilError } from './errors.js';
import { defineConnector } from './connector.js';
import { defineTable } from './sdk.js';
import {
  applyTableOverrides,
  connectorForSite,
  streamVerification,
  tableOverrideProblems,
} from './table-overrides.js';
import * as t from './transforms.js';
import { z } from 'zod';

const patients = defineTable({
  resourceType: 'Patient',
  table: 'Patients',
  key: ['PatientId'],
  columns: {
    PatientId: 'int',
    LastName: 'varchar(60)',
    ChartNo: 'varchar(20)',
    LastModified: 'datetime',
    Edited: 'datetime',
  },
  cursor: { mode: 'timestamp', column: 'LastModified', clock: 'db-local', precision: 3 },
  fields: { 'name.family': t.col('LastName', t.str()) },
});
const offices = defineTable({
  resourceType: 'Location',
  table: 'Offices',
  key: ['OfficeId'],
  columns: { OfficeId: 'int' },
  cursor: { mode: 'snapshot' },
  constants: { kind: 'office' },
  fields: {},
});
const connector = defineConnector({
  id: 'demo',
  displayName: 'Demo',
  dialects: ['mssql'],
  versions: ['1'],
  verification: { level: 'provisional', against: 'x' },
  optionsSchema: z.object({}),
  streams: { patients, offices },
});

describe('applyTableOverrides', () => {
  it('returns a new frozen table with the site names; the declared one is untouched', () => {
    const site = applyTableOverrides(patients, {
      table: 'dbo.tblPatient',
      key: ['ChartNo'],
      cursor: 'Edited',
      columns: { LastName: 'Surname', Edited: 'DateEdited' },
    });
    expect(site).not.toBe(patients);
    expect(Object.isFrozen(site)).toBe(true);
    expect(site.table).toBe('dbo.tblPatient');
    expect(site.key).toEqual(['ChartNo']);
    expect(site.cursor).toEqual({ mode: 'timestamp', column: 'Edited', clock: 'db-local', precision: 3 });
    expect(site.columnNames).toEqual({ LastName: 'Surname', Edited: 'DateEdited' });
    expect(site.fields).toBe(patients.fields);
    expect(patients.table).toBe('Patients');
    expect(patients.columnNames).toBeUndefined();
    expect(applyTableOverrides(patients, undefined)).toBe(patients);
  });

  it('lists every problem: unknown columns, bad names, a cursor on a snapshot stream', () => {
    const problems = tableOverrideProblems(patients, {
      table: 'a.b.c',
      key: ['Nope'],
      cursor: 'Missing',
      columns: { Ghost: 'x', LastName: 'bad name', 'p.Joined': 'y' },
    });
    expect(problems.map((p) => p.path)).toEqual([
      'table',
      'key.0',
      'cursor',
      'columns.Ghost',
      'columns.LastName',
      'columns.p.Joined',
    ]);
    expect(tableOverrideProblems(offices, { cursor: 'OfficeId' })[0]?.message).toContain('snapshot mode');
    let error: unknown;
    try {
      applyTableOverrides(patients, { columns: { Ghost: 'x' } });
    } catch (e) {
      error = e;
    }
    expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_CONFIG_INVALID');
  });

  it('connectorForSite applies each stream its own override and keeps the others', () => {
    const site = connectorForSite(connector, { patients: { table: 'tblPatient' } });
    expect(site.streams['patients']?.table).toBe('tblPatient');
    expect(site.streams['offices']).toBe(offices);
    expect(connectorForSite(connector, undefined)).toBe(connector);
  });
});

describe('config: connections[].tableMap', () => {
  const catalog: ConnectorCatalog = {
    has: (id) => id === 'demo',
    ids: () => ['demo'],
    optionsSchema: () => connector.optionsSchema,
    streamNames: () => Object.keys(connector.streams),
    streamTable: (_id, stream) => connector.streams[stream],
  };
  const raw = (tableMap: unknown) => ({
    connections: [
      {
        id: 'site',
        connector: 'demo',
        timezone: 'America/Denver',
        database: { odbc: 'DSN=x', dialect: 'mssql' },
        tableMap,
      },
    ],
  });

  it('accepts a fitting override and an odbc database', () => {
    const result = validateConfig(
      raw({ patients: { table: 'dbo.tblPatient', columns: { LastName: 'Surname' } } }),
      catalog,
    );
    expect(result.ok).toBe(true);
  });

  it('reports unknown streams and columns with their paths, all at once', () => {
    const result = validateConfig(
      raw({ patient: {}, patients: { columns: { Ghost: 'x' }, cursor: 'Nope' } }),
      catalog,
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path)).toEqual([
      'connections.0.tableMap.patient',
      'connections.0.tableMap.patients.cursor',
      'connections.0.tableMap.patients.columns.Ghost',
    ]);
  });

  it('accepts the verifiedAtInstall mark tendril map writes, and refuses a made-up one', () => {
    const mark = { at: '2026-01-05T09:00:00.000Z', by: 'tendril map', sampleRows: 200, failedRows: 1 };
    expect(
      validateConfig(raw({ patients: { table: 'tblPatient', verifiedAtInstall: mark } }), catalog).ok,
    ).toBe(true);
    const forged = validateConfig(
      raw({ patients: { verifiedAtInstall: { ...mark, by: 'hand', sampleRows: -1 } } }),
      catalog,
    );
    expect(forged.ok).toBe(false);
  });
});

describe('streamVerification', () => {
  it('says verified at install when tendril map confirmed the stream, else its evidence or the connector level', () => {
    const mark = {
      at: '2026-01-05T09:00:00.000Z',
      by: 'tendril map' as const,
      sampleRows: 200,
      failedRows: 1,
    };
    expect(streamVerification(connector, 'patients', { patients: { verifiedAtInstall: mark } })).toBe(
      'verified at install (tendril map, 2026-01-05: 200 rows mapped, 1 failed)',
    );
    expect(streamVerification(connector, 'offices', { patients: { verifiedAtInstall: mark } })).toBe('x');
    const withEvidence = defineConnector({
      ...connector,
      streams: { offices: { ...offices, evidence: 'replica DDL' } },
    });
    expect(streamVerification(withEvidence, 'offices', undefined)).toBe('replica DDL');
  });
});
