import { describe, expect, it } from 'vitest';
import { dolphin } from '@tendril/connector-dolphin';
import { openDental } from '@tendril/connector-open-dental';
import { orthotrac } from '@tendril/connector-orthotrac';
import { isTendrilError } from '@tendril/core';
import { grantsScript, grantTables } from '@tendril/sql';
import { runCli } from './support/cli.js';

/*
 * `tendril grants` scripts, snapshotted per connector and dialect. There is no SQL Server here: the
 * T-SQL is evidenced by these snapshots only (the MySQL script runs for real in
 * discover-grants.test.ts).
 */

describe('grants scripts', () => {
  it('open-dental / mysql: SELECT on exactly the tables the streams read', () => {
    const { script, selectTables } = grantsScript({
      connector: openDental,
      dialect: 'mysql',
      user: 'tendril_reader',
      password: "p'w\\d",
      database: 'opendental',
    });
    expect(selectTables).toEqual(grantTables(openDental));
    expect(selectTables).toContain('deletedobject');
    expect(script.match(/^GRANT SELECT/gm)?.length).toBe(selectTables.length);
    expect(script).toContain("IDENTIFIED BY 'p''w\\\\d'");
    expect(script).toMatchSnapshot();
  });

  it('dolphin and orthotrac / mssql: CREATE LOGIN/USER, SELECT, VIEW CHANGE TRACKING on main tables', () => {
    for (const connector of [dolphin, orthotrac]) {
      const { script, changeTrackingTables } = grantsScript({
        connector,
        dialect: 'mssql',
        user: 'tendril_reader',
        password: 'S3cret!',
        database: 'Main_OMS',
        writeback: true,
      });
      expect(changeTrackingTables.length).toBeGreaterThan(0);
      expect(script).toContain('USE [Main_OMS];');
      expect(script).not.toMatch(/db_owner\b.*GRANT|ALTER ROLE|sp_addrolemember/);
      expect(script).toMatchSnapshot(connector.id);
    }
  });

  it('mssql without change tracking (--no-change-tracking)', () => {
    const { script } = grantsScript({
      connector: dolphin,
      dialect: 'mssql',
      user: 'tendril_reader',
      password: 'x',
      changeTracking: false,
    });
    expect(script).not.toContain('VIEW CHANGE TRACKING');
    expect(script).toMatchSnapshot();
  });

  it('refuses a user name that could break out of the script', () => {
    let error: unknown;
    try {
      grantsScript({
        connector: openDental,
        dialect: 'mysql',
        user: "x'; DROP USER root; --",
        password: 'p',
      });
    } catch (e) {
      error = e;
    }
    expect(isTendrilError(error) && error.code).toBe('TENDRIL_E_USAGE');
  });
});

it('tendril connectors prints each connector with its verification level (built CLI)', async () => {
  const result = await runCli(['connectors', '--json']);
  expect(result.code).toBe(0);
  const levels = Object.fromEntries(
    (JSON.parse(result.stdout) as { id: string; verification: string; verifiedAgainst: string }[]).map(
      (c) => [c.id, c],
    ),
  );
  expect(levels['open-dental']?.verification).toBe('real-schema');
  for (const id of ['dolphin', 'orthotrac']) {
    expect(levels[id]?.verification).toBe('provisional');
    expect(levels[id]?.verifiedAgainst).toBe('no public schema: unverified — confirm with tendril discover');
  }
  const text = await runCli(['connectors']);
  expect(text.stdout).toMatch(/dolphin\s+Dolphin Management unknown\s+\[provisional\]/);
});

it('tendril connectors lists Dentrix Enterprise with its streams and the evidence of each (built CLI)', async () => {
  const result = await runCli(['connectors', '--json']);
  const dxe = (
    JSON.parse(result.stdout) as { id: string; streams: { name: string; evidence: string }[] }[]
  ).find((c) => c.id === 'dentrix-enterprise')!;
  expect(dxe.streams.length).toBeGreaterThanOrEqual(10);
  const evidence = Object.fromEntries(dxe.streams.map((s) => [s.name, s.evidence]));
  for (const stream of [
    'practitioners',
    'offices',
    'appointments',
    'appointment-types',
    'appointment-procedures',
  ])
    expect(evidence[stream], stream).toBe('replica DDL');
  for (const stream of ['procedures', 'charges', 'payments'])
    expect(evidence[stream], stream).toBe('public queries — confirm with discover');
  for (const stream of ['patients', 'coverage-primary', 'coverage-secondary'])
    expect(evidence[stream], stream).toMatch(/^replica DDL.*\+ public queries.*— confirm with discover$/);
  const text = (await runCli(['connectors'])).stdout;
  expect(text).toMatch(/streams \(12\):/);
  expect(text).toMatch(/\n\s+payments\s+Payment\s+public queries — confirm with discover\n/);
});
