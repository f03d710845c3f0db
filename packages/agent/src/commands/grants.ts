import { randomBytes } from 'node:crypto';
import { TendrilError } from '@tendril/core';
import { GRANT_DIALECTS, grantsScript, type GrantDialect } from '@tendril/sql';
import type { CommandRegistrar } from '../cli-context.js';
import { loadConnector } from '../registry.js';

interface GrantsOptions {
  connector: string;
  dialect: string;
  user: string;
  password?: string;
  database?: string;
  host?: string;
  schema?: string;
  writeback?: boolean;
  changeTracking?: boolean;
}

/**
 * `tendril grants`: prints the least-privilege login script for a connector (packages/sql
 * grants.ts). Without `--password` a random one is generated and shown once in the script; keep it
 * in the secrets file, never in tendril.yaml.
 */
export const registerGrantsCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('grants')
    .description(
      'print the least-privilege login script for a connector: SELECT on exactly the tables it reads',
    )
    .requiredOption('--connector <id>', 'connector id (tendril connectors lists them)')
    .requiredOption('--dialect <dialect>', `database engine: ${GRANT_DIALECTS.join(' | ')}`)
    .option('--user <name>', 'login / user name to create', 'tendril_reader')
    .option('--password <p>', 'password to set (default: a generated one, printed in the script)')
    .option('--database <name>', 'the EHR database (qualifies MySQL grants; SQL Server: USE)')
    .option('--host <host>', 'MySQL account host part', '%')
    .option('--schema <name>', 'SQL Server schema of the tables', 'dbo')
    .option('--writeback', 'also INSERT/UPDATE on the tables the sql writeback path writes')
    .option('--no-change-tracking', 'SQL Server: leave out VIEW CHANGE TRACKING')
    .action(async (opts: GrantsOptions) => {
      if (!(GRANT_DIALECTS as readonly string[]).includes(opts.dialect)) {
        throw new TendrilError('TENDRIL_E_USAGE', `--dialect must be one of ${GRANT_DIALECTS.join(', ')}`);
      }
      const connector = await loadConnector(opts.connector);
      const generated = opts.password === undefined;
      const password = opts.password ?? randomBytes(18).toString('base64url');
      const { script } = grantsScript({
        connector,
        dialect: opts.dialect as GrantDialect,
        user: opts.user,
        password,
        ...(opts.database ? { database: opts.database } : {}),
        ...(opts.host ? { host: opts.host } : {}),
        ...(opts.schema ? { schema: opts.schema } : {}),
        ...(opts.writeback ? { writeback: true } : {}),
        ...(opts.changeTracking === false ? { changeTracking: false } : {}),
      });
      ctx.write(
        generated
          ? `-- Generated password (shown once; put it in the secrets file): see CREATE statement below.\n${script}`
          : script,
      );
    });
};
