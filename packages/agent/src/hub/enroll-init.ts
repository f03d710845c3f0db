import { resolve } from 'node:path';
import { cellText, isValidTimeZone, TendrilError } from '@tendril/core';
import type { CliContext } from '../cli-context.js';
import { checkConnection } from '../check/check-connection.js';
import { DEFAULT_PORTS } from '../check/target.js';
import { checkExitCode, renderCheck } from '../commands/check.js';
import { validateRawConfig } from '../config-file.js';
import { EXIT } from '../exit-codes.js';
import {
  answerProblems,
  assertInitTargetFree,
  buildConfigDocument,
  EMAIL_PATTERN,
  INIT_DIALECTS,
  initSite,
  type InitAnswers,
  type InitDialect,
  type InitResult,
} from '../init/init-site.js';
import { createPrompter } from '../init/prompter.js';
import { loadAllConnectors } from '../registry.js';
import { hubBaseUrl, previewEnrollment, spendEnrollment } from './enroll.js';

/** The `tendril init` flags the enrollment flow reads. */
export interface EnrollInitOptions {
  config: string;
  hub?: string;
  enroll?: string;
  nonInteractive?: boolean;
  contactName?: string;
  contactEmail?: string;
  timezone?: string;
  dialect?: string;
  host?: string;
  port?: string;
  instance?: string;
  database?: string;
  user?: string;
  passwordEnv?: string;
  passwordStdin?: boolean;
  store?: string;
  keyFile?: string;
  force?: boolean;
  json?: boolean;
}

/** SQL Server EHRs; the rest of the connectors read MySQL / MariaDB. */
const MSSQL_CONNECTORS = new Set(['dentrix-enterprise', 'dolphin', 'orthotrac']);
const localTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'America/New_York';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * `tendril init --hub <url> --enroll <key>` (docs/hub.md): the hub pre-fills the practice, EHR,
 * contact, connection details and the hub-assigned connection id; only what is missing is asked
 * (the password always, locally; it never goes to the hub). The connection is tested as `check`
 * does before the key is spent, so a wrong password does not burn it. Then the key is exchanged for
 * the agent credential, stored encrypted in secrets.enc, and `hub:` is written into tendril.yaml.
 */
export async function runEnrollInit(opts: EnrollInitOptions, ctx: CliContext): Promise<void> {
  if (!opts.hub || !opts.enroll)
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      'enrolling with a hub needs both --hub <url> and --enroll <enrollment key>',
    );
  const base = hubBaseUrl(opts.hub);
  const target = {
    configFile: resolve(opts.config),
    ...(opts.store ? { storeFile: opts.store } : {}),
    ...(opts.keyFile ? { keyFile: opts.keyFile } : {}),
    ...(opts.force ? { force: true } : {}),
  };
  await assertInitTargetFree(target);
  const details = await previewEnrollment(base, opts.enroll);
  const connectors = await loadAllConnectors();
  const connector = connectors.get(details.connector);
  if (!connector)
    throw new TendrilError(
      'TENDRIL_E_CONNECTOR_UNKNOWN',
      `the hub set this site up for connector ${details.connector}, which this agent does not have; installed: ${[...connectors.keys()].join(', ')}`,
    );
  const connectionId = details.connectionIds[0];
  if (!connectionId)
    throw new TendrilError('TENDRIL_E_INTERNAL', 'the hub assigned no connection to this site');
  const err = (text: string) => void ctx.io.stderr.write(`${text}\n`);
  err(
    `hub ${base}: site ${details.siteId} "${details.practiceName}" (${details.connector}), connection ${connectionId}`,
  );

  const defaultDialect: InitDialect = MSSQL_CONNECTORS.has(details.connector) ? 'mssql' : 'mysql';
  const prefilled: Partial<InitAnswers> = {
    practiceName: details.practiceName,
    connector: details.connector,
    connectionId,
    ...((opts.contactName ?? details.contactName)
      ? { contactName: opts.contactName ?? details.contactName! }
      : {}),
    ...((opts.contactEmail ?? details.contactEmail)
      ? { contactEmail: opts.contactEmail ?? details.contactEmail! }
      : {}),
    ...((opts.host ?? details.server) ? { host: opts.host ?? details.server! } : {}),
    ...((opts.port ?? details.port) !== undefined ? { port: Number(opts.port ?? details.port) } : {}),
    ...(opts.instance ? { instance: opts.instance } : {}),
    ...((opts.database ?? details.database) ? { database: opts.database ?? details.database! } : {}),
    ...(opts.user ? { user: opts.user } : {}),
    timezone: opts.timezone ?? localTimeZone(),
    dialect: (opts.dialect as InitDialect | undefined) ?? defaultDialect,
    auth: 'database',
  };
  let answers: InitAnswers;
  if (opts.nonInteractive) {
    let password: string | undefined;
    if (opts.passwordEnv) {
      password = ctx.io.env[opts.passwordEnv];
      if (password === undefined)
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `--password-env ${opts.passwordEnv}: that environment variable is not set`,
        );
    } else if (opts.passwordStdin) password = await readStdin();
    const partial = { ...prefilled, ...(password !== undefined ? { password } : {}) };
    const problems = answerProblems(partial);
    if (problems.length > 0)
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        `init --enroll --non-interactive:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    answers = partial as InitAnswers;
  } else {
    const prompter = createPrompter(process.stdin, ctx.io.stderr);
    try {
      const ask = async (
        key: keyof InitAnswers,
        question: string,
        extra: Parameters<typeof prompter.ask>[1] = {},
      ) =>
        (prefilled[key] as string | number | undefined) !== undefined
          ? cellText(prefilled[key])
          : prompter.ask(question, extra);
      const contactName = await ask('contactName', 'Contact name (who can restart the agent on site)');
      const contactEmail = await ask('contactEmail', 'Contact e-mail', {
        validate: (a) => (EMAIL_PATTERN.test(a) ? undefined : 'that is not an e-mail address'),
      });
      const timezone = await prompter.ask('Office time zone', {
        defaultValue: prefilled.timezone!,
        validate: (a) => (isValidTimeZone(a) ? undefined : 'use an IANA zone such as America/Chicago'),
      });
      const dialect = (await prompter.ask('Database engine', {
        choices: INIT_DIALECTS,
        defaultValue: prefilled.dialect!,
      })) as InitDialect;
      const host = await ask('host', 'Server name or IP address');
      const port = Number(await ask('port', 'Port', { defaultValue: String(DEFAULT_PORTS[dialect]) }));
      const database = await ask('database', 'Database name');
      const user = await ask('user', 'Database user name (read-only)');
      let password = '';
      while (password === '') password = await prompter.askSecret('Password (stays on this server)');
      answers = {
        ...(prefilled as InitAnswers),
        contactName,
        contactEmail,
        timezone,
        dialect,
        host,
        port,
        database,
        user,
        password,
      };
      const problems = answerProblems(answers);
      if (problems.length > 0) throw new TendrilError('TENDRIL_E_USAGE', problems.join('; '));
    } finally {
      prompter.close();
    }
  }

  // The check walk, before the key is spent: the config as it will be written, with the password inline.
  const document = buildConfigDocument(answers, ':memory:');
  const connections = document['connections'] as { database: Record<string, unknown> }[];
  connections[0]!.database['password'] = answers.password;
  const config = await validateRawConfig('the enrollment answers', document, {});
  const check = await checkConnection(config.connections[0]!, connector, { timeoutMs: 5000 });
  const code = checkExitCode([check]);
  if (code !== EXIT.ok) {
    err(renderCheck([check]));
    err('the enrollment key was not used: fix the connection and run the same command again');
    ctx.setExitCode(code);
    return;
  }
  err('connection check passed; enrolling');
  const enrolled = await spendEnrollment(base, opts.enroll);
  const result: InitResult = await initSite(
    { ...answers, hub: { url: base, siteId: enrolled.siteId, credential: enrolled.credential } },
    target,
  );
  if (opts.json) {
    ctx.write(JSON.stringify({ ...result, siteId: enrolled.siteId, connectionId, hub: base }));
    return;
  }
  ctx.write(
    [
      `enrolled as site ${enrolled.siteId} on ${base}; connection ${connectionId} (ids assigned by the hub)`,
      `wrote ${result.configFile} (with hub:) and ${result.secretsFile} (database password and hub credential, encrypted)`,
      ...(result.keyFile ? [`wrote ${result.keyFile} (the site key, readable by its owner only)`] : []),
      '',
      'SITE SECRET KEY (shown only this once: store it in the practice password manager)',
      '',
      `  ${result.siteKey}`,
      '',
      `Next: TENDRIL_SITE_KEY=<key> tendril run --config ${result.configFile}   (the site shows online on the hub within one heartbeat)`,
    ].join('\n'),
  );
}
