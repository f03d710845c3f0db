import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { createTestDatabase, loadOpenDentalSchema, type TestDatabase } from './support/mariadb.js';

/**
 * PHI never reaches the logs: seed real patients, sync at the most verbose level (plus a failing
 * connection, so error paths log too), then look for every seeded name, birth date and phone.
 */
describe('logs carry no patient data', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('tendril_logscan');
    await loadOpenDentalSchema(db);
    dir = mkdtempSync(join(tmpdir(), 'tendril-logscan-'));
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('finds none of the seeded names, birth dates or phone numbers in trace-level output', async () => {
    const seeded = await runCli([
      'seed',
      '--connector',
      'open-dental',
      '--url',
      db.url,
      '--patients',
      '150',
      '--seed',
      'logscan',
    ]);
    expect(seeded.code).toBe(0);
    const file = join(dir, 'tendril.yaml');
    writeFileSync(
      file,
      [
        `store: { sqlite: ${join(dir, 'tendril.db')} }`,
        'logLevel: trace',
        'connections:',
        '  - id: logscan',
        '    connector: open-dental',
        '    timezone: America/Denver',
        `    database: { url: "mysql://root@127.0.0.1:3306/${db.name}" }`,
        '    sync: { settleSeconds: 0 }',
        '  - id: wrong-password',
        '    connector: open-dental',
        '    timezone: America/Denver',
        `    database: { url: "mysql://tendril_nobody:secret-pw-123@127.0.0.1:3306/${db.name}" }`,
        '',
      ].join('\n'),
    );
    await sleep(1100);
    const result = await runCli(['sync', '--config', file, '--once']);
    expect(result.code).toBe(3); // the second connection fails, the first syncs
    const output = result.stdout + result.stderr;
    expect(output).toContain('stream synced'); // the logs were really written at this level
    expect(output).toContain('TENDRIL_E_DB_AUTH');
    expect(output).not.toContain('secret-pw-123');

    const connection = await db.connect();
    const [patients] = (await connection.query(
      "SELECT LName, FName, Birthdate, HmPhone, WirelessPhone, Email, Address FROM patient WHERE Birthdate > '1800-01-01'",
    )) as unknown as [Record<string, string>[]];
    await connection.end();
    expect(patients.length).toBeGreaterThan(100);
    const needles = new Set<string>();
    for (const p of patients) {
      // Short names (Li, Ng, Ray) also occur inside ordinary words; four letters and up are specific.
      for (const name of [p['LName'], p['FName']]) if (name && name.length >= 4) needles.add(name);
      if (p['Birthdate']) needles.add(p['Birthdate']);
      for (const phone of [p['HmPhone'], p['WirelessPhone']]) {
        const digits = (phone ?? '').replace(/\D/g, '');
        if (digits.length >= 10) {
          needles.add(phone!); // as stored, e.g. (555)555-0142
          needles.add(digits.slice(-10)); // as digits or inside E.164
        }
      }
      if (p['Email']) needles.add(p['Email']);
      if (p['Address'] && p['Address'].length >= 6) needles.add(p['Address']);
    }
    // A phone's ten digits count as a leak only as their own run of digits (or after +1), not
    // inside a longer number such as a timestamp.
    const leaks = [...needles].filter((n) =>
      /^\d{10}$/.test(n) ? new RegExp(`(?<!\\d)(?:\\+?1)?${n}(?!\\d)`).test(output) : output.includes(n),
    );
    expect(leaks).toEqual([]);
  });
});
