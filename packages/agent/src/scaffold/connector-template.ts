/**
 * The files of a new connector (`tendril new connector`), as text. The result builds and passes its
 * tests untouched: one sample stream over a sample `patients` table, that table's DDL as the
 * connector's schema fixture, a schema test (discovery on a real database loaded from the fixture)
 * and a golden mapping test. The engineer then replaces the fixture with the vendor's real DDL and
 * the sample table with real ones (docs/adding-a-connector.md).
 */

export const SCAFFOLD_DIALECTS = ['mysql', 'mssql', 'postgres', 'sqlite'] as const;
export type ScaffoldDialect = (typeof SCAFFOLD_DIALECTS)[number];

export interface ConnectorScaffold {
  /** Kebab-case connector id (`acme-ehr`). */
  readonly id: string;
  readonly displayName: string;
  readonly dialect: ScaffoldDialect;
}

/**
 * The JSON Schema `tendril config schema` makes of the scaffold's `optionsSchema`
 * (`z.object({}).strict()`, below): the scaffold adds it to `packages/agent/tendril.schema.json`
 * before anything is built (`test/new-connector.test.ts` checks the two agree).
 */
export const SCAFFOLD_OPTIONS_JSON_SCHEMA = {
  type: 'object',
  properties: {},
  additionalProperties: false,
} as const;

/** Per dialect: the sample table's declared types, its fixture DDL, and the engine its tests run on. */
interface DialectSample {
  readonly types: { key: string; name: string; date: string; phone: string; stamp: string };
  /** Fraction digits of the stamp column. */
  readonly precision: number;
  /** File name of the schema fixture under `fixtures/`. */
  readonly fixture: string;
  /** Which real engine the tests use, and how the test database is created. */
  readonly engine: 'mariadb' | 'postgres' | 'sqlite';
  readonly ddl: string;
  /** What the verification level says, honestly. */
  readonly against: string;
}

const SAMPLES: Record<ScaffoldDialect, DialectSample> = {
  mysql: {
    types: { key: 'int(11)', name: 'varchar(60)', date: 'date', phone: 'varchar(30)', stamp: 'datetime' },
    precision: 0,
    fixture: 'schema.mariadb.sql',
    engine: 'mariadb',
    ddl: `CREATE TABLE \`patients\` (
  \`patient_id\` int(11) NOT NULL,
  \`last_name\` varchar(60) DEFAULT NULL,
  \`first_name\` varchar(60) DEFAULT NULL,
  \`birth_date\` date DEFAULT NULL,
  \`phone\` varchar(30) DEFAULT NULL,
  \`updated_at\` datetime DEFAULT NULL,
  PRIMARY KEY (\`patient_id\`)
);
`,
    against: 'a sample table only: replace fixtures/schema.mariadb.sql with the vendor schema',
  },
  mssql: {
    types: { key: 'int', name: 'varchar(60)', date: 'date', phone: 'varchar(30)', stamp: 'datetime' },
    precision: 3,
    fixture: 'schema.mariadb.sql',
    engine: 'mariadb',
    ddl: `-- The MariaDB form of the SQL Server tables (no SQL Server runs here): datetime -> DATETIME(3).
CREATE TABLE \`patients\` (
  \`patient_id\` INT NOT NULL,
  \`last_name\` VARCHAR(60) NULL,
  \`first_name\` VARCHAR(60) NULL,
  \`birth_date\` DATE NULL,
  \`phone\` VARCHAR(30) NULL,
  \`updated_at\` DATETIME(3) NULL,
  PRIMARY KEY (\`patient_id\`)
);
`,
    against: 'a sample table only, in its MariaDB form + T-SQL compile checks; not run against SQL Server',
  },
  postgres: {
    types: {
      key: 'integer',
      name: 'character varying(60)',
      date: 'date',
      phone: 'character varying(30)',
      stamp: 'timestamp without time zone',
    },
    precision: 6,
    fixture: 'schema.postgres.sql',
    engine: 'postgres',
    ddl: `CREATE TABLE patients (
  patient_id integer PRIMARY KEY,
  last_name character varying(60),
  first_name character varying(60),
  birth_date date,
  phone character varying(30),
  updated_at timestamp without time zone
);
`,
    against: 'a sample table only: replace fixtures/schema.postgres.sql with the vendor schema',
  },
  sqlite: {
    types: { key: 'INTEGER', name: 'VARCHAR(60)', date: 'DATE', phone: 'VARCHAR(30)', stamp: 'DATETIME' },
    precision: 0,
    fixture: 'schema.sqlite.sql',
    engine: 'sqlite',
    ddl: `CREATE TABLE patients (
  patient_id INTEGER PRIMARY KEY,
  last_name VARCHAR(60),
  first_name VARCHAR(60),
  birth_date DATE,
  phone VARCHAR(30),
  updated_at DATETIME
);
`,
    against: 'a sample table only: replace fixtures/schema.sqlite.sql with the vendor schema',
  },
};

/** `acme-ehr` → `acmeEhr`: the exported constant's name. */
export function connectorConstName(id: string): string {
  return id.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Every file of the new connector, by path relative to the repository root. */
export function connectorFiles(scaffold: ConnectorScaffold): Record<string, string> {
  const { id, displayName, dialect } = scaffold;
  const sample = SAMPLES[dialect];
  const name = connectorConstName(id);
  const dir = `connectors/${id}`;
  const files: Record<string, string> = {
    [`${dir}/package.json`]: `${JSON.stringify(
      {
        name: `@tendril/connector-${id}`,
        version: '0.1.0',
        private: true,
        type: 'module',
        license: 'Apache-2.0',
        main: './dist/index.js',
        types: './dist/index.d.ts',
        exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
        files: ['dist'],
        dependencies: { '@tendril/core': 'workspace:*', zod: 'catalog:' },
      },
      null,
      2,
    )}\n`,
    [`${dir}/tsconfig.json`]: `{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "rootDir": "src", "outDir": "dist" },
  "include": ["src"],
  "exclude": ["src/**/*.test.ts", "src/**/*.test-support.ts"],
  "references": [{ "path": "../../core" }]
}
`,
    [`${dir}/fixtures/${sample.fixture}`]: `-- ${displayName}: the schema the connector is checked against (schema.int.test.ts).
-- Scaffolded with a sample table only. Replace it with the vendor's real DDL (or the tables it
-- reads, with their exact names and types) and say in src/index.ts what it was taken from.
${sample.ddl}`,
    [`${dir}/src/index.ts`]: `import { defineConnector } from '@tendril/core';
import { z } from 'zod';
import { patientsTable } from './tables/patients.js';

/**
 * ${displayName} (${dialect}). Stream names key the cursors in the store: never rename them.
 * Scaffolded by \`tendril new connector\`: one sample stream over a sample table; replace it with the
 * vendor's tables (docs/adding-a-connector.md, docs/mapping-language.md) and state in
 * \`verification\` exactly what they were checked against.
 */
export const ${name} = defineConnector({
  id: '${id}',
  displayName: ${quote(displayName)},
  dialects: ['${dialect}'],
  versions: ['unknown'],
  verification: {
    level: 'provisional',
    against: '${sample.against}',
  },
  optionsSchema: z.object({}).strict(),
  streams: {
    patients: patientsTable,
  },
});

export default ${name};
`,
    [`${dir}/src/tables/patients.ts`]: `import { defineTable, t } from '@tendril/core';

/**
 * The sample \`patients\` table of the scaffold: key \`patient_id\`, change stamp \`updated_at\`
 * written by the database in the office's wall time (\`db-local\`). Replace names and types with
 * the vendor's, exactly as its schema declares them.
 */
export const patientsTable = defineTable({
  resourceType: 'Patient',
  table: 'patients',
  key: ['patient_id'],
  columns: {
    patient_id: '${sample.types.key}',
    last_name: '${sample.types.name}',
    first_name: '${sample.types.name}',
    birth_date: '${sample.types.date}',
    phone: '${sample.types.phone}',
    updated_at: '${sample.types.stamp}',
  },
  cursor: { mode: 'timestamp', column: 'updated_at', clock: 'db-local', precision: ${sample.precision} },
  fields: {
    name: t.humanName({ family: 'last_name', given: ['first_name'] }),
    birthDate: t.col('birth_date', t.date()),
    telecom: t.contactPoints([{ column: 'phone', system: 'phone', use: 'home' }]),
  },
});
`,
    [`${dir}/src/test-database.test-support.ts`]: testDatabaseSupport(sample),
    [`${dir}/src/schema.int.test.ts`]: `import { compareConnector, readLiveSchema } from '@tendril/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ${name} } from './index.js';
import { createFixtureDatabase, type FixtureDatabase } from './test-database.test-support.js';

/**
 * The connector's declarations against its schema fixture (\`fixtures/${sample.fixture}\`) loaded
 * into a real ${engineName(sample.engine)}: \`tendril discover\`'s own comparison finds every table, column,
 * type and key of every stream.
 */
describe('${id}: declarations against the schema fixture', () => {
  let db: FixtureDatabase;

  beforeAll(async () => {
    db = await createFixtureDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('finds every stream ok on the live schema', async () => {
    const report = compareConnector(${name}, await readLiveSchema(db.sql));
    const problems = report.streams.flatMap((s) =>
      s.findings.filter((f) => f.status !== 'note').map((f) => \`\${s.stream}: \${f.message}\`),
    );
    expect(problems).toEqual([]);
    expect(report.streams.map((s) => s.stream)).toEqual(Object.keys(${name}.streams));
  });
});
`,
    [`${dir}/src/mapping.int.test.ts`]: `import { mapRow, mappingContext, resourceHash, resourceId, type TableDefinition } from '@tendril/core';
import { lookupByKeysQuery } from '@tendril/sql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ${name} } from './index.js';
import { createFixtureDatabase, type FixtureDatabase } from './test-database.test-support.js';

const CONNECTION = '${id}-main';
const SYNCED_AT = '2025-03-10T00:00:00Z';
const ctx = mappingContext({
  connectionId: CONNECTION,
  connectorId: '${id}',
  timezone: 'America/New_York',
});

/**
 * Golden mapping test: a row inserted into the schema fixture on a real ${engineName(sample.engine)}, read back
 * with the engine's own point-lookup query, mapped, compared with the exact resource.
 */
describe('${id}: golden mappings', () => {
  let db: FixtureDatabase;

  beforeAll(async () => {
    db = await createFixtureDatabase();
    await db.sql.knex('patients').insert({
      patient_id: 1042,
      last_name: 'Rivera',
      first_name: 'Ana',
      birth_date: '1987-04-12',
      phone: '(555) 555-0142',
      updated_at: '2025-01-20 09:00:00',
    });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('patients', async () => {
    const table = ${name}.streams['patients'] as TableDefinition;
    const [row] = await db.sql.execute(lookupByKeysQuery(db.sql, table, [['1042']]));
    const mapped = mapRow(table, row!, ctx, SYNCED_AT);
    const body = {
      resourceType: 'Patient',
      id: resourceId(CONNECTION, 'Patient', '1042'),
      sourceId: '1042',
      name: { family: 'Rivera', given: ['Ana'] },
      birthDate: '1987-04-12',
      telecom: [{ system: 'phone', value: '+15555550142', use: 'home', rank: 1 }],
    };
    expect(mapped.kind === 'live' && mapped.resource).toEqual({
      ...body,
      meta: {
        source: { system: '${id}', connectionId: CONNECTION },
        // 09:00 office time in New York (EST, UTC-5).
        sourceUpdatedAt: '2025-01-20T14:00:00Z',
        syncedAt: SYNCED_AT,
        hash: resourceHash(body),
      },
    });
  });
});
`,
  };
  if (dialect === 'mssql') {
    files[`${dir}/src/connector.test.ts`] =
      `import { createSqlClient, lookupByKeysQuery, timestampPageQuery } from '@tendril/sql';
import type { TableDefinition } from '@tendril/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ${name} } from './index.js';

/*
 * The T-SQL every stream compiles to on knex's mssql dialect (\`.toSQL().toNative()\`, no server:
 * none runs here). Add \`toMatchSnapshot()\` once the tables are the vendor's.
 */
const mssql = createSqlClient({ url: 'mssql://tendril_reader@127.0.0.1:1/none?trustServerCertificate=true' });
afterAll(async () => {
  await mssql.close();
});

const sqlOf = (query: { toSQL(): { toNative(): { sql: string } } }) => query.toSQL().toNative().sql;

describe('${id}: T-SQL (compiled only, not run against SQL Server)', () => {
  it.each(Object.entries(${name}.streams) as [string, TableDefinition][])('%s', (_stream, table) => {
    const window = { lower: '2025-03-01 09:45:00.000', upper: '2025-03-01 10:08:05.123' };
    const after = { cursor: '2025-03-01 10:00:00.003', key: ['12'] };
    const page = sqlOf(timestampPageQuery(mssql, table, { ...window, after, limit: 1000 }));
    expect(page).toMatch(/^select top \\(@p0\\) /);
    expect(page).toMatch(/CAST\\(@p\\d+ AS datetime\\)/);
    expect(page).toContain('CONVERT(varchar(27), ');
    expect(sqlOf(lookupByKeysQuery(mssql, table, [['12']]))).toMatch(/CAST\\(@p\\d+ AS int\\)/);
  });
});
`;
  }
  return files;
}

/** A TypeScript single-quoted string literal. */
function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function engineName(engine: DialectSample['engine']): string {
  return engine === 'mariadb' ? 'MariaDB' : engine === 'postgres' ? 'PostgreSQL' : 'SQLite';
}

/** The test-support file: a throw-away real database with the fixture loaded, and a SqlClient on it. */
function testDatabaseSupport(sample: DialectSample): string {
  const create = {
    mariadb: `const db = await createMysqlTestDatabase('tendril_new_');
  const server = process.env['TENDRIL_TEST_MARIADB_URL'] ?? 'mysql://root@127.0.0.1:3306';
  const url = \`\${server.replace(/\\/$/, '')}/\${db.name}\`;`,
    postgres: `const db = await createPostgresTestDatabase('tendril_new_');
  const server = process.env['TENDRIL_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432';
  const url = \`\${server.replace(/\\/$/, '')}/\${db.name}\`;`,
    sqlite: `const db = await createSqliteTestDatabase();
  const url = \`sqlite://\${db.name}\`;`,
  }[sample.engine];
  const helper = {
    mariadb: 'createMysqlTestDatabase',
    postgres: 'createPostgresTestDatabase',
    sqlite: 'createSqliteTestDatabase',
  }[sample.engine];
  return `/**
 * Test support (not shipped): a fresh ${engineName(sample.engine)} database with \`fixtures/${sample.fixture}\` loaded,
 * and a SqlClient on it that reads like the agent does.
 */
import { readFileSync } from 'node:fs';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { ${helper} } from '@tendril/testing';

export const SCHEMA_FILE = new URL('../fixtures/${sample.fixture}', import.meta.url);

export interface FixtureDatabase {
  readonly sql: SqlClient;
  drop(): Promise<void>;
}

/** Creates the database, loads the schema fixture statement by statement, connects a SqlClient. */
export async function createFixtureDatabase(): Promise<FixtureDatabase> {
  ${create}
  const statements = readFileSync(SCHEMA_FILE, 'utf8')
    .split('\\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\\n')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const statement of statements) await db.knex.raw(statement);
  const sql = createSqlClient({ url });
  return {
    sql,
    async drop() {
      await sql.close();
      await db.drop();
    },
  };
}
`;
}
