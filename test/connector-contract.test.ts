import { dentrixEnterprise } from '@tendril/connector-dentrix-enterprise';
import { openDental } from '@tendril/connector-open-dental';
import { dolphin } from '@tendril/connector-dolphin';
import { orthotrac } from '@tendril/connector-orthotrac';
import type { ConnectorDefinition } from '@tendril/core';
import { createSqlClient } from '@tendril/sql';
import { seedOpenDental } from '@tendril/connector-open-dental/testing';
import { seedDentrixEnterprise } from '@tendril/connector-dentrix-enterprise/testing';
import { createTablesFromDeclarations, seedFromDeclarations } from '@tendril/testing';
import { describeConnectorContract } from '@tendril/testing/test-support/connector-contract';
import { createFixtureDatabase as createDentrixDatabase } from '../connectors/dentrix-enterprise/src/fixture-database.test-support.js';
import { createTestDatabase, loadOpenDentalSchema } from './support/mariadb.js';

/*
 * Issue 3: every connector passes the contract suite.
 * - open-dental: the real Open Dental 24.3 schema on MariaDB, filled by the data generator.
 * - dentrix-enterprise: the replica of six Dentrix Enterprise 11 tables plus the connector's
 *   public-query tables (`connectors/dentrix-enterprise/fixtures`), filled by the generator.
 * - dolphin / orthotrac: NO real schema exists. Their tables are created from their own
 *   provisional declarations and filled generically, so this proves only internal consistency
 *   (declarations, queries, mappings and the model agree with each other) — nothing about a real
 *   Dolphin or Orthotrac database.
 */

describeConnectorContract({
  connector: openDental,
  databaseLabel: 'real 24.3 schema on MariaDB',
  makeDatabase: async () => {
    const db = await createTestDatabase('tendril_dsc_contract_od');
    await loadOpenDentalSchema(db);
    const client = createSqlClient({ url: db.url });
    await seedOpenDental(client.knex, {
      patients: 120,
      seed: 'contract',
      dialect: 'mysql',
      now: new Date('2024-06-15T00:00:00Z'),
      stamp: new Date('2024-06-01T12:00:00Z'),
    });
    return {
      client,
      drop: async () => {
        await client.close();
        await db.drop();
      },
    };
  },
});

describeConnectorContract({
  connector: dentrixEnterprise,
  databaseLabel: 'replica DDL + public-query tables on MariaDB',
  timezone: 'America/Chicago',
  makeDatabase: async () => {
    const db = await createDentrixDatabase('contract');
    const client = createSqlClient({ url: db.url });
    await seedDentrixEnterprise(client.knex, { patients: 40, seed: 'contract' });
    return {
      client,
      drop: async () => {
        await client.close();
        await db.drop();
      },
    };
  },
});

function ownDeclarations(connector: ConnectorDefinition): void {
  describeConnectorContract({
    connector,
    databaseLabel: 'tables from its own provisional declarations: internal consistency only',
    makeDatabase: async () => {
      const db = await createTestDatabase(`tendril_dsc_contract_${connector.id}`);
      const client = createSqlClient({ url: db.url });
      const tables = Object.values(connector.streams);
      await createTablesFromDeclarations(client.knex, tables, 'mysql');
      await seedFromDeclarations(client.knex, tables, { rows: 30 });
      return {
        client,
        drop: async () => {
          await client.close();
          await db.drop();
        },
      };
    },
  });
}

ownDeclarations(dolphin);
ownDeclarations(orthotrac);
