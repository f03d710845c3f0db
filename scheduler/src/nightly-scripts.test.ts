import { readOnlySelectProblem, TendrilConfig } from '@tendril/core';
import { describe, expect, it } from 'vitest';

describe('nightly script SQL must be one read-only SELECT', () => {
  it.each([
    'SELECT PatNum, LName FROM patient WHERE PatStatus = 0',
    'select count(*) as n from appointment;',
    'SELECT \'a;b -- not a comment\', "x;y" FROM patient',
    "SELECT REPLACE(LName, 'x', 'y') AS name FROM patient",
  ])('accepts %s', (sql) => {
    expect(readOnlySelectProblem(sql)).toBeUndefined();
  });

  it.each([
    ['DELETE FROM patient', 'must be a single SELECT statement'],
    ['SELECT 1; DROP TABLE patient', 'must be a single statement'],
    ['SELECT 1 -- hidden', 'must not contain comments'],
    ['SELECT 1 /* x */', 'must not contain comments'],
    ["SELECT * INTO OUTFILE '/tmp/x' FROM patient", 'remove INTO'],
    ['SELECT * FROM patient FOR UPDATE', 'remove FOR UPDATE'],
    ['SELECT * FROM patient LOCK IN SHARE MODE', 'remove LOCK IN SHARE MODE'],
    ['WITH x AS (SELECT 1) DELETE FROM patient', 'must be a single SELECT statement'],
    ['SELECT * FROM patient; ', undefined],
  ])('judges %s', (sql, problem) => {
    const found = readOnlySelectProblem(sql);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});

describe('config for tendril run', () => {
  const base = {
    connections: [
      {
        id: 'smile-dental-main',
        connector: 'open-dental',
        timezone: 'America/New_York',
        database: { url: 'mysql://r@h/db' },
      },
    ],
  };

  it('defaults the API to loopback:8787, polls to */10, the nightly to 02:00, no scripts', () => {
    const config = TendrilConfig.parse(base);
    expect(config.api).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(config.health).toEqual({ readStaleMinutes: 150, writeStaleMinutes: 25 });
    expect(config.connections[0]!.schedule).toEqual({ poll: '*/10 * * * *', nightly: '02:00' });
    expect(config.connections[0]!.nightlyScripts).toEqual([]);
  });

  it('reports every schedule and script problem at once', () => {
    const result = TendrilConfig.safeParse({
      ...base,
      api: { port: 70000 },
      connections: [
        {
          ...base.connections[0],
          schedule: { poll: 'every ten minutes', nightly: '2am' },
          nightlyScripts: [
            { name: 'recalls', sql: 'UPDATE patient SET x = 1', element: 'recall_list' },
            { name: 'Bad Name', sql: 'SELECT 1', element: '9lives' },
          ],
        },
      ],
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual([
      'api.port',
      'connections.0.nightlyScripts.0.sql',
      'connections.0.nightlyScripts.1.element',
      'connections.0.nightlyScripts.1.name',
      'connections.0.schedule.nightly',
      'connections.0.schedule.poll',
    ]);
  });
});
