import { resolve } from 'node:path';
import { isValidTimeZone, TendrilError, type ConnectorDefinition } from '@tendril/core';
import type { CliContext, CommandRegistrar } from '../cli-context.js';
import {
  answerProblems,
  EMAIL_PATTERN,
  INIT_AUTH_MODES,
  INIT_DIALECTS,
  initSite,
  slugify,
  type InitAnswers,
  type InitAuthMode,
  type InitDialect,
  type InitResult,
} from '../init/init-site.js';
import { createPrompter } from '../init/prompter.js';
import { DEFAULT_PORTS } from '../check/target.js';
import { loadAllConnectors } from '../registry.js';
import { SITE_KEY_ENV, SITE_KEY_FILE_ENV } from '../secrets/site-key.js';
import { runEnrollInit } from '../hub/enroll-init.js';

interface InitOptions {
  config: string;
  nonInteractive?: boolean;
  practiceName?: string;
  contactName?: string;
  contactEmail?: string;
  connector?: string;
  connectionId?: string;
  timezone?: string;
  dialect?: string;
  host?: string;
  port?: string;
  instance?: string;
  database?: string;
  user?: string;
  windowsAuth?: boolean;
  domain?: string;
  passwordEnv?: string;
  passwordStdin?: boolean;
  store?: string;
  keyFile?: string;
  force?: boolean;
  json?: boolean;
  hub?: string;
  enroll?: string;
}

/** The usual database name per connector, offered as the default. */
const DEFAULT_DATABASE_NAMES: Readonly<Record<string, string>> = { 'open-dental': 'opendental' };

/** The engines `init` can write that a connector runs on (Open Dental: MySQL/MariaDB only). */
export function initDialectsOf(connector: ConnectorDefinition | undefined): InitDialect[] {
  const runsOn = INIT_DIALECTS.filter((d) =>
    (connector?.dialects as readonly string[] | undefined)?.includes(d),
  );
  return runsOn.length > 0 ? runsOn : [...INIT_DIALECTS];
}

const localTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'America/New_York';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function nonInteractiveAnswers(
  opts: InitOptions,
  ctx: CliContext,
  connectors: ReadonlyMap<string, ConnectorDefinition>,
): Promise<InitAnswers> {
  const connectorIds = [...connectors.keys()];
  const dialects = initDialectsOf(opts.connector ? connectors.get(opts.connector) : undefined);
  let password: string | undefined;
  if (opts.passwordEnv) {
    password = ctx.io.env[opts.passwordEnv];
    if (password === undefined)
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `--password-env ${opts.passwordEnv}: that environment variable is not set`,
      );
  } else if (opts.passwordStdin) password = await readStdin();
  const port = opts.port === undefined ? undefined : Number(opts.port);
  const dialect = (opts.dialect ?? dialects[0] ?? 'mysql') as InitDialect;
  const partial: Partial<InitAnswers> = {
    ...(opts.practiceName !== undefined ? { practiceName: opts.practiceName } : {}),
    ...(opts.contactName !== undefined ? { contactName: opts.contactName } : {}),
    ...(opts.contactEmail !== undefined ? { contactEmail: opts.contactEmail } : {}),
    ...(opts.connector !== undefined ? { connector: opts.connector } : {}),
    connectionId: opts.connectionId ?? slugify(opts.practiceName ?? ''),
    timezone: opts.timezone ?? localTimeZone(),
    dialect,
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(opts.instance !== undefined ? { instance: opts.instance } : {}),
    ...(opts.database !== undefined
      ? { database: opts.database }
      : opts.connector && DEFAULT_DATABASE_NAMES[opts.connector]
        ? { database: DEFAULT_DATABASE_NAMES[opts.connector]! }
        : {}),
    auth: opts.windowsAuth ? 'windows' : 'database',
    ...(opts.domain !== undefined ? { domain: opts.domain } : {}),
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
  const problems = answerProblems(partial);
  if (opts.connector && !connectorIds.includes(opts.connector))
    problems.push(`--connector: unknown; installed: ${connectorIds.join(', ')}`);
  else if (opts.connector && opts.dialect && !(dialects as string[]).includes(opts.dialect))
    problems.push(`--dialect: ${opts.connector} runs on ${dialects.join(', ') || 'none of them'}`);
  if (problems.length > 0)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `init --non-interactive:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  return partial as InitAnswers;
}

/** The install form, in the terminal: the same questions and order as the vendor web forms. */
async function interactiveAnswers(
  opts: InitOptions,
  ctx: CliContext,
  connectors: ReadonlyMap<string, ConnectorDefinition>,
): Promise<InitAnswers> {
  const connectorIds = [...connectors.keys()];
  const prompter = createPrompter(process.stdin, ctx.io.stderr);
  try {
    const out = (text: string) => void ctx.io.stderr.write(`${text}\n`);
    out('Tendril setup. Answers go to the config file; the password is stored encrypted.\n');
    out('1. The practice');
    const practiceName = await prompter.ask('Practice name', {
      ...(opts.practiceName ? { defaultValue: opts.practiceName } : {}),
    });
    const connector = await prompter.ask('EHR connector', {
      choices: connectorIds,
      defaultValue: opts.connector ?? connectorIds[0]!,
    });
    out('   The contact can restart the agent if it stops responding and cannot be restarted remotely.');
    const contactName = await prompter.ask('Contact name', {
      ...(opts.contactName ? { defaultValue: opts.contactName } : {}),
    });
    const contactEmail = await prompter.ask('Contact e-mail', {
      ...(opts.contactEmail ? { defaultValue: opts.contactEmail } : {}),
      validate: (a) => (EMAIL_PATTERN.test(a) ? undefined : 'that is not an e-mail address'),
    });
    const connectionId = await prompter.ask('Connection id (fixed for good: it is part of every event id)', {
      defaultValue: opts.connectionId ?? slugify(practiceName),
      validate: (a) => (/^[a-z0-9-]{1,64}$/.test(a) ? undefined : 'use 1–64 characters of a-z, 0-9 and -'),
    });
    const timezone = await prompter.ask('Office time zone', {
      defaultValue: opts.timezone ?? localTimeZone(),
      validate: (a) => (isValidTimeZone(a) ? undefined : 'use an IANA zone such as America/Chicago'),
    });
    out('\n2. The database server');
    // Only the engines this connector runs on (Open Dental: MySQL/MariaDB); one is not a question.
    const dialects = initDialectsOf(connectors.get(connector));
    let dialect: InitDialect;
    if (dialects.length === 1) {
      dialect = dialects[0]!;
      out(`   Database engine: ${dialect} (the one ${connector} runs on)`);
    } else {
      dialect = (await prompter.ask('Database engine', {
        choices: dialects,
        defaultValue:
          opts.dialect && (dialects as string[]).includes(opts.dialect) ? opts.dialect : dialects[0]!,
      })) as InitDialect;
    }
    const host = await prompter.ask('Server name or IP address', {
      ...(opts.host ? { defaultValue: opts.host } : {}),
    });
    let port: number | undefined;
    let instance: string | undefined;
    const portRule = (a: string) =>
      /^\d+$/.test(a) && Number(a) >= 1 && Number(a) <= 65535
        ? undefined
        : 'a port is a number from 1 to 65535';
    if (dialect === 'mssql') {
      const answer = await prompter.ask('Port number, or instance name for a named instance', {
        defaultValue: opts.instance ?? opts.port ?? String(DEFAULT_PORTS.mssql),
      });
      if (/^\d+$/.test(answer)) port = Number(answer);
      else instance = answer;
    } else {
      port = Number(
        await prompter.ask('Port', {
          defaultValue: opts.port ?? String(DEFAULT_PORTS[dialect]),
          validate: portRule,
        }),
      );
    }
    const database = await prompter.ask('Database name', {
      ...((opts.database ?? DEFAULT_DATABASE_NAMES[connector])
        ? { defaultValue: opts.database ?? DEFAULT_DATABASE_NAMES[connector]! }
        : {}),
    });
    out('\n3. Read-only credentials');
    const auth: InitAuthMode =
      dialect === 'mssql'
        ? ((await prompter.ask('Authentication', {
            choices: INIT_AUTH_MODES,
            defaultValue: opts.windowsAuth ? 'windows' : 'database',
          })) as InitAuthMode)
        : 'database';
    const domain =
      auth === 'windows'
        ? await prompter.ask('Windows domain', { ...(opts.domain ? { defaultValue: opts.domain } : {}) })
        : undefined;
    const user = await prompter.ask(auth === 'windows' ? 'Windows user name' : 'Database user name', {
      ...(opts.user ? { defaultValue: opts.user } : {}),
    });
    let password = '';
    for (;;) {
      password = await prompter.askSecret('Password');
      if (password !== '') break;
      out('  a password is needed');
    }
    const answers: InitAnswers = {
      practiceName,
      contactName,
      contactEmail,
      connector,
      connectionId,
      timezone,
      dialect,
      host,
      ...(port !== undefined ? { port } : {}),
      ...(instance !== undefined ? { instance } : {}),
      database,
      auth,
      ...(domain !== undefined ? { domain } : {}),
      user,
      password,
    };
    const problems = answerProblems(answers);
    if (problems.length > 0) throw new TendrilError('TENDRIL_E_USAGE', problems.join('; '));
    return answers;
  } finally {
    prompter.close();
  }
}

/** What init prints: where things went, the key once, and the next steps. */
export function renderInitResult(result: InitResult, windowsAuth: boolean): string {
  const rule = '-'.repeat(72);
  return [
    `wrote ${result.configFile}`,
    `wrote ${result.secretsFile} (the database password, encrypted with the site key)`,
    ...(result.keyFile ? [`wrote ${result.keyFile} (the site key, readable by its owner only)`] : []),
    '',
    rule,
    'SITE SECRET KEY (shown only this once: store it in the practice password manager)',
    '',
    `  ${result.siteKey}`,
    '',
    `The agent needs it to decrypt secrets.enc: ${SITE_KEY_ENV}=<key> in the service's environment,`,
    `or ${SITE_KEY_FILE_ENV}=<file> naming a file (mode 0600) that holds it. Without it the agent cannot start;`,
    'a lost key means running `tendril init --force` again (a new key and password entry).',
    rule,
    '',
    'Next:',
    `  1. Test the connection:  ${SITE_KEY_ENV}=<key> tendril check --config ${result.configFile}`,
    `  2. Install the service:  tendril service install --config ${result.configFile}   (docs/install-linux.md, docs/install-windows.md)`,
    ...(windowsAuth
      ? [
          '  3. Windows authentication: the service must log on as that Windows account (docs/install-windows.md, step "Log on as")',
        ]
      : []),
  ].join('\n');
}

/** `tendril init`: interactive setup, or fully scripted with --non-interactive and flags. */
export const registerInitCommand: CommandRegistrar = (program, ctx) => {
  program
    .command('init')
    .description(
      'set up a site: writes the config and an encrypted secrets file, and creates the site secret key (shown once)',
    )
    // Not `--dir`: the odbc addon's loader (node-pre-gyp) reads process.argv and takes --dir as its own --directory.
    .option('--config <file>', 'the config file to write; secrets.enc goes beside it', 'tendril.yaml')
    .option('--non-interactive', 'ask nothing; take every answer from the flags (scripted installs)')
    .option('--practice-name <name>', 'practice name')
    .option('--contact-name <name>', 'who can restart the agent on site')
    .option('--contact-email <email>', "the contact's e-mail")
    .option('--connector <id>', 'EHR connector (tendril connectors)')
    .option('--connection-id <id>', 'connection id; default: from the practice name')
    .option('--timezone <zone>', "office time zone; default: this machine's")
    .option('--dialect <engine>', `database engine: ${INIT_DIALECTS.join(' | ')}`)
    .option('--host <server>', 'database server name or IP address')
    .option('--port <n>', 'database port')
    .option('--instance <name>', 'SQL Server named instance (instead of --port)')
    .option('--database <name>', 'database name')
    .option('--user <name>', 'read-only database user (or Windows user with --windows-auth)')
    .option('--windows-auth', 'SQL Server: log in with a Windows account (--domain, --user)')
    .option('--domain <domain>', 'Windows domain for --windows-auth')
    .option('--password-env <VAR>', 'read the password from this environment variable')
    .option('--password-stdin', 'read the password from standard input')
    .option('--store <file>', 'agent store (SQLite) path; default: .tendril/tendril.db beside the config')
    .option('--key-file <file>', 'also write the site key to this file (mode 0600) for TENDRIL_SITE_KEY_FILE')
    .option('--force', 'replace an existing config and secrets file (creates a new site key)')
    .option('--json', 'print {configFile, secretsFile, keyFile, siteKey} as JSON')
    .option('--hub <url>', 'enroll with this hub (docs/hub.md): details are pre-filled from it')
    .option('--enroll <key>', 'the enrollment key `tendril hub site create` printed (with --hub)')
    .action(async (opts: InitOptions) => {
      if (opts.hub !== undefined || opts.enroll !== undefined) {
        await runEnrollInit(opts, ctx);
        return;
      }
      const connectors = await loadAllConnectors();
      const answers = opts.nonInteractive
        ? await nonInteractiveAnswers(opts, ctx, connectors)
        : await interactiveAnswers(opts, ctx, connectors);
      const result = await initSite(answers, {
        configFile: resolve(opts.config),
        ...(opts.store ? { storeFile: opts.store } : {}),
        ...(opts.keyFile ? { keyFile: opts.keyFile } : {}),
        ...(opts.force ? { force: true } : {}),
      });
      ctx.write(opts.json ? JSON.stringify(result) : renderInitResult(result, answers.auth === 'windows'));
    });
};
