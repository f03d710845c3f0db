import { TendrilError } from '@tendril/core';
import type { CommandRegistrar } from '../cli-context.js';
import { loadConfigFile } from '../config-file.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { loadAllConnectors } from '../registry.js';
import {
  CHECK_STEPS,
  checkConnection,
  type CheckStepName,
  type CheckStatus,
  type ConnectionCheck,
} from '../check/check-connection.js';
import { fingerprintFile } from '../check/schema-fingerprint.js';
import { loadSiteKey, SITE_KEY_ENV, SITE_KEY_FILE_ENV } from '../secrets/site-key.js';

/** The exit code of a failed step (docs/cli.md): one per kind of fix. */
export function exitCodeForStep(step: CheckStepName): ExitCode {
  switch (step) {
    case 'dns':
    case 'tcp':
    case 'tls':
      return EXIT.checkUnreachable;
    case 'login':
    case 'database':
      return EXIT.checkLogin;
    case 'read-rights':
      return EXIT.checkRights;
    case 'schema':
      return EXIT.checkSchema;
    default:
      throw new Error(`unreachable step ${step satisfies never}`);
  }
}

/** The exit code of a whole check: the code of the earliest failed step in any connection, else 0. */
export function checkExitCode(results: readonly ConnectionCheck[]): ExitCode {
  let first: number | undefined;
  for (const result of results) {
    for (const step of result.steps) {
      if (step.status !== 'failed') continue;
      const index = CHECK_STEPS.indexOf(step.step);
      if (first === undefined || index < first) first = index;
    }
  }
  return first === undefined ? EXIT.ok : exitCodeForStep(CHECK_STEPS[first]!);
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warning: 'WARN', failed: 'FAIL', skipped: '  - ' };

/** The report a practice's IT reads: one line per step, and for a failure what is wrong and the fix. */
export function renderCheck(results: readonly ConnectionCheck[], store?: StoreProtectionCheck): string {
  const lines: string[] = [];
  for (const r of results) {
    const t = r.target;
    const where = t.odbc
      ? `${t.dialect} via ODBC`
      : t.dialect === 'sqlite'
        ? `sqlite ${t.filename ?? ''}`
        : `${t.dialect} ${t.host ?? ''}${t.port ? `:${t.port}` : ''}${t.instance ? `\\${t.instance}` : ''}/${t.database ?? ''}${t.user ? ` as ${t.domain ? `${t.domain}\\` : ''}${t.user}` : ''}`;
    lines.push(`connection ${r.id} (${r.connector}, ${where})`);
    for (const s of r.steps) {
      lines.push(`  ${MARK[s.status]} ${s.step.padEnd(11)} ${s.message}`);
      if (s.fix && (s.status === 'failed' || s.status === 'warning')) {
        const [head, ...rest] = s.fix.split('\n');
        lines.push(`       ${''.padEnd(11)} fix: ${head}`);
        for (const line of rest) lines.push(`       ${''.padEnd(11)}      ${line}`);
      }
    }
  }
  if (store) lines.push(renderStoreProtection(store));
  const code = checkExitCode(results);
  lines.push(code === EXIT.ok ? 'all checks passed' : `check failed (exit code ${code}; see docs/cli.md)`);
  return lines.join('\n');
}

/** What `check` says about the store's encryption at rest (docs/security.md, "PHI at rest"). */
export interface StoreProtectionCheck {
  readonly encryption: 'site-key' | 'none';
  readonly message: string;
  readonly code?: 'TENDRIL_W_STORE_PLAINTEXT';
  readonly fix?: string;
}

const STORE_SEALED: StoreProtectionCheck = {
  encryption: 'site-key',
  message: 'the agent store encrypts patient data at rest with the site key',
};

const STORE_PLAINTEXT: StoreProtectionCheck = {
  encryption: 'none',
  code: 'TENDRIL_W_STORE_PLAINTEXT',
  message: 'no site key: the agent store keeps patient data in plain text',
  fix: `set ${SITE_KEY_ENV} (or ${SITE_KEY_FILE_ENV}) to the site key \`tendril init\` showed; the store is encrypted at the next start`,
};

export function renderStoreProtection(store: StoreProtectionCheck): string {
  const lines = [
    `store (encryption at rest)`,
    `  ${store.code ? 'WARN' : 'ok  '} ${'encryption'.padEnd(11)} ${store.message}`,
  ];
  if (store.fix) lines.push(`       ${''.padEnd(11)} fix: ${store.fix} (${store.code})`);
  return lines.join('\n');
}

/** `tendril check`: the "Test connection" button of an install, with the reason and the fix for each failure. */
export const registerCheckCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('check')
    .description(
      'test each connection: DNS, TCP, TLS, login, database, read rights, schema; explains each failure',
    )
    .requiredOption('--config <file>', 'config file (YAML)')
    .option('--connection <id>', 'only this connection')
    .option('--timeout <seconds>', 'network timeout per step', '5')
    .option('--json', 'print one JSON object')
    .action(async (opts: { config: string; connection?: string; timeout: string; json?: boolean }) => {
      const timeoutSeconds = Number(opts.timeout);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
        throw new TendrilError('TENDRIL_E_USAGE', '--timeout must be a number of seconds > 0');
      const config = await loadConfigFile(opts.config, ctx.io.env);
      const connectors = await loadAllConnectors();
      const selected = config.connections.filter((c) => !opts.connection || c.id === opts.connection);
      if (selected.length === 0) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `--connection ${opts.connection ?? ''} is not in the config; configured: ${config.connections.map((c) => c.id).join(', ')}`,
        );
      }
      const file = fingerprintFile(config, opts.config);
      const results: ConnectionCheck[] = [];
      for (const connection of selected) {
        results.push(
          await checkConnection(connection, connectors.get(connection.connector)!, {
            timeoutMs: timeoutSeconds * 1000,
            fingerprintFile: file,
          }),
        );
      }
      const code = checkExitCode(results);
      // Not a connection step and never a failure: whether patient data is encrypted at rest.
      const store = (await loadSiteKey(ctx.io.env)) === undefined ? STORE_PLAINTEXT : STORE_SEALED;
      ctx.write(
        opts.json
          ? JSON.stringify({ connections: results, store, exitCode: code })
          : renderCheck(results, store),
      );
      ctx.setExitCode(code);
    });
};
