import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { main } from '@tendril/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli } from './support/cli.js';
import { createTestDatabase, type TestDatabase } from './support/mariadb.js';

/*
 * `tendril map` on a MariaDB schema whose tables and columns are renamed from the Dolphin
 * connector's (provisional) declarations — the install-time situation that connector exists for.
 * The ranking gets most names right from name, type and sampled values ("keys that join" picks
 * PersonKey over the better-named PatIdOld), gets ChartNumber wrong (a ChartNumberLegacy decoy
 * outranks MRN), and the engineer corrects it: through an answers file (the built CLI), and
 * interactively on a terminal (in-process, a TTY-flagged stream). The written tableMap then turns
 * the renamed schema into a working connection, and `tendril connectors --config` shows the
 * streams as verified at install. The preview is PHI-masked: no seeded value reaches the output.
 */

const SURNAMES = ['Quintanilla', 'Abernathy', 'Okonkwo', 'Vasquez', 'Lindqvist', 'Marchetti'];
const GIVEN = ['Beatriz', 'Thaddeus', 'Chidinma', 'Rosalind', 'Evander', 'Ottoline'];
const PATIENTS = 30;
const APPOINTMENTS = 40;

const SITE_DDL = `
CREATE TABLE tblPatient (
  PatID int(11) NOT NULL PRIMARY KEY,
  Surname varchar(60), GivenName varchar(60), MidName varchar(60), Nickname varchar(60),
  DOB date, Gender varchar(1),
  PhoneHome varchar(30), CellPhone varchar(30), EmailAddr varchar(100),
  Street1 varchar(100), Street2 varchar(100), Town varchar(60), StateCode varchar(20), PostCode varchar(20),
  ChartNumberLegacy varchar(30), MRN varchar(30),
  DoctorID int(11), ClinicID int(11), IsInactive tinyint(4), DateModified datetime
);
CREATE TABLE tblAppt (
  ApptID int(11) NOT NULL PRIMARY KEY,
  PatIdOld int(11), PersonKey int(11), DoctorID int(11), ClinicID int(11), TypeID int(11),
  ApptStart datetime, Minutes int(11), ApptStatus varchar(20), Comments varchar(255), DateModified datetime,
  LateBy int(11)
);
CREATE TABLE tblAuditTrail (AuditID int(11) NOT NULL PRIMARY KEY, Action varchar(20), At datetime);
`;

async function seed(db: TestDatabase): Promise<void> {
  const connection = await db.connect();
  try {
    await connection.query(SITE_DDL);
    for (let i = 0; i < PATIENTS; i++) {
      const id = 1001 + i;
      await connection.query(
        `INSERT INTO tblPatient VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, NULL, 'Tucson', 'AZ', '85701', ?, ?, ?, 1, 0,
                                        '2025-01-15 10:00:00')`,
        [
          id,
          SURNAMES[i % SURNAMES.length],
          GIVEN[i % GIVEN.length],
          `19${60 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}`,
          i % 2 ? 'F' : 'M',
          `(520) 555-${String(3000 + i)}`,
          `520-555-${String(7000 + i)}`,
          `person${i}@example.com`,
          `${100 + i} Saguaro Way`,
          i % 5 === 0 ? `OLD-${i}` : null,
          `MRN-${5000 + i}`,
          1 + (i % 3),
        ],
      );
    }
    for (let a = 0; a < APPOINTMENTS; a++) {
      await connection.query(
        `INSERT INTO tblAppt VALUES (?, ?, ?, ?, 1, 2, ?, 30, 'confirmed', NULL, '2025-01-16 09:00:00', -5)`,
        [a + 1, 90_000 + a, 1001 + (a % PATIENTS), 1 + (a % 3), `2025-02-${10 + (a % 15)} 09:30:00`],
      );
    }
  } finally {
    await connection.end();
  }
}

const CONFIG_HEAD = `# The practice's Tendril config (this comment must survive tendril map).
store: { sqlite: STORE }
connections:
  - id: ortho-site
    connector: dolphin
    timezone: America/Phoenix
    database: { url: "URL" }
    streams: [patients, appointments]
    sync: { settleSeconds: 0 }
`;

describe('tendril map on a renamed Dolphin schema (MariaDB)', () => {
  let db: TestDatabase;
  let dir: string;
  const configFile = () => join(dir, 'tendril.yaml');
  const writeConfig = (file = configFile()) =>
    writeFileSync(file, CONFIG_HEAD.replace('STORE', join(dir, 'store.db')).replace('URL', db.url));

  beforeAll(async () => {
    db = await createTestDatabase('tendril_map');
    await seed(db);
    dir = mkdtempSync(join(tmpdir(), 'tendril-map-'));
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ranks the renamed columns, but ChartNumber goes to the decoy: the preview alone writes nothing', async () => {
    writeConfig();
    const answers = join(dir, 'preview-only.yaml');
    writeFileSync(answers, 'patients: { write: false }\nappointments: { write: false }\n');
    const result = await runCli([
      'map',
      '--config',
      configFile(),
      '--connection',
      'ortho-site',
      '--answers',
      answers,
      '--json',
    ]);
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as {
      streams: { stream: string; table: string; columns: Record<string, string>; written: boolean }[];
    };
    const [patients, appointments] = out.streams;
    expect(patients!.table).toBe('tblPatient');
    expect(patients!.columns).toMatchObject({
      PatientId: 'PatID',
      LastName: 'Surname',
      FirstName: 'GivenName',
      MiddleName: 'MidName',
      PreferredName: 'Nickname',
      BirthDate: 'DOB',
      Sex: 'Gender',
      HomePhone: 'PhoneHome',
      MobilePhone: 'CellPhone',
      Email: 'EmailAddr',
      Address1: 'Street1',
      Address2: 'Street2',
      City: 'Town',
      State: 'StateCode',
      Zip: 'PostCode',
      ProviderId: 'DoctorID',
      OfficeId: 'ClinicID',
      Inactive: 'IsInactive',
      LastModified: 'DateModified',
      // Wrong: the decoy's name is closer, and its few values map as well as MRN's.
      ChartNumber: 'ChartNumberLegacy',
    });
    expect(appointments!.table).toBe('tblAppt');
    // PatIdOld is the better name, but only PersonKey's values are keys of tblPatient.
    expect(appointments!.columns).toMatchObject({
      AppointmentId: 'ApptID',
      PatientId: 'PersonKey',
      StartTime: 'ApptStart',
      DurationMinutes: 'Minutes',
      Status: 'ApptStatus',
      Note: 'Comments',
      LastModified: 'DateModified',
    });
    expect(out.streams.every((s) => !s.written)).toBe(true);
    expect(readFileSync(configFile(), 'utf8')).not.toContain('tableMap');
  });

  it('the engineer corrects ChartNumber in an answers file: preview, failure rate, tableMap written', async () => {
    writeConfig();
    const answers = join(dir, 'answers.yaml');
    writeFileSync(answers, 'patients:\n  columns: { ChartNumber: MRN }\n');
    const result = await runCli([
      'map',
      '--config',
      configFile(),
      '--connection',
      'ortho-site',
      '--answers',
      answers,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('patients: WRITTEN to tableMap, verified at install');
    expect(result.stdout).toContain('ChartNumber → MRN');
    expect(result.stdout).toMatch(/preview: 30 rows mapped, 0 failed \(0%\)/);
    expect(result.stdout).toMatch(/preview: 40 rows mapped, 0 failed \(0%\)/);
    // The preview shows shapes, never the values: no seeded name, birth date, phone or chart number.
    expect(result.stdout).toContain('"family":"Xxxxxxxxxxx"');
    for (const value of [...SURNAMES, ...GIVEN, '1960-01-10', '555-3000', '5203', 'MRN-5000', 'person0@'])
      expect(result.stdout, value).not.toContain(value);

    const text = readFileSync(configFile(), 'utf8');
    expect(text).toContain("# The practice's Tendril config (this comment must survive tendril map).");
    const config = parseYaml(text) as {
      connections: { tableMap: Record<string, Record<string, unknown>> }[];
    };
    const tableMap = config.connections[0]!.tableMap;
    expect(tableMap['patients']).toMatchObject({
      table: 'tblPatient',
      columns: { ChartNumber: 'MRN', LastName: 'Surname', BirthDate: 'DOB', LastModified: 'DateModified' },
      verifiedAtInstall: { by: 'tendril map', sampleRows: 30, failedRows: 0 },
    });
    expect(tableMap['appointments']).toMatchObject({
      table: 'tblAppt',
      columns: { PatientId: 'PersonKey' },
      verifiedAtInstall: { sampleRows: 40, failedRows: 0 },
    });
  });

  it('does not write a mapping whose preview fails, and says how many rows failed and why', async () => {
    const file = join(dir, 'failing.yaml');
    writeConfig(file);
    const answers = join(dir, 'wrong-duration.yaml');
    // LateBy holds negative minutes: every appointment would fail the model (minutesDuration ≥ 0).
    writeFileSync(answers, 'appointments:\n  columns: { DurationMinutes: LateBy }\n');
    const result = await runCli([
      'map',
      '--config',
      file,
      '--connection',
      'ortho-site',
      '--stream',
      'appointments',
      '--answers',
      answers,
    ]);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(
      /appointments: not written \(100% of the sampled rows failed \(more than 5%\)/,
    );
    expect(result.stdout).toContain(
      '40 × TENDRIL_E_VALIDATION: table tblAppt: the mapped Appointment is not valid (minutesDuration',
    );
    expect(readFileSync(file, 'utf8')).not.toContain('tableMap');
  });

  it('the written tableMap makes a working connection, shown as verified at install', async () => {
    const sync = await runCli(['sync', '--config', configFile(), '--once', '--json']);
    expect(sync.code).toBe(0);
    const report = JSON.parse(sync.stdout) as {
      connections: { streams: { stream: string; created: number }[] }[];
    };
    expect(report.connections[0]!.streams.map((s) => [s.stream, s.created])).toEqual([
      ['patients', PATIENTS],
      ['appointments', APPOINTMENTS],
    ]);
    const events = await runCli(['events', '--config', configFile(), '--limit', '200', '--json']);
    const patient = (JSON.parse(events.stdout) as { data: Record<string, unknown> }[])
      .map((e) => e.data)
      .find((d) => d['resourceType'] === 'Patient' && d['sourceId'] === '1001')!;
    expect(patient['identifiers']).toEqual([
      { system: 'urn:tendril:dolphin:ortho-site:chart-number', value: 'MRN-5000', type: 'MR' },
    ]);
    const listed = await runCli(['connectors', '--config', configFile()]);
    expect(listed.stdout).toMatch(
      /connection ortho-site \(dolphin\)\n\s+patients\s+verified at install \(tendril map, \d{4}-\d{2}-\d{2}: 30 rows mapped, 0 failed\)\n\s+appointments\s+verified at install/,
    );
  });

  it('asks on a terminal: Enter accepts, a name corrects, y writes', async () => {
    const file = join(dir, 'interactive.yaml');
    writeConfig(file);
    // Patients: the table, then every declared column in declaration order (ChartNumber is the
    // 16th: Dolphin's patients table declares it after the address), then the write question.
    const declared = 20;
    const answers = ['', ...Array.from({ length: declared }, (_, i) => (i === 15 ? 'MRN' : '')), 'y'];
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    let output = '';
    // A person answers each question when it is asked (readline drops lines typed before a question).
    const stdout = Object.assign(
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          output += chunk.toString('utf8');
          if (/\]: $/.test(output) && answers.length > 0)
            setImmediate(() => stdin.write(`${answers.shift()}\n`));
          done();
        },
      }),
      { isTTY: true },
    );
    const code = await main(['map', '--config', file, '--connection', 'ortho-site', '--stream', 'patients'], {
      stdout,
      stderr: stdout,
      stdin,
      env: process.env,
    });
    expect(output).toContain('ChartNumber (varchar(30), column) → identifiers');
    expect(output).toMatch(/1\) ChartNumberLegacy [\d.]+ \(name [\d.]+, maps 100%\)/);
    expect(output).toContain('write the tableMap of patients to the config? [y/N]');
    expect(code).toBe(0);
    const tableMap = (
      parseYaml(readFileSync(file, 'utf8')) as {
        connections: { tableMap: Record<string, { columns: Record<string, string> }> }[];
      }
    ).connections[0]!.tableMap;
    expect(tableMap['patients']!.columns['ChartNumber']).toBe('MRN');
    expect(tableMap['appointments']).toBeUndefined();
  });

  it('refuses to guess off a terminal, and reports bad answers with the field and the fix', async () => {
    const none = await runCli(['map', '--config', configFile(), '--connection', 'ortho-site']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('not on a terminal: pass --answers <file>');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'patients:\n  columns: { Surname: LastName }\nbilling: {}\n');
    const result = await runCli([
      'map',
      '--config',
      configFile(),
      '--connection',
      'ortho-site',
      '--answers',
      bad,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('patients.columns.Surname: is not a declared column of Patients');
    expect(result.stderr).toContain('billing: unknown stream');
  });
});
