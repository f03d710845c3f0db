import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HUB_CREDENTIAL_SECRET, isValidTimeZone, TendrilError } from '@tendril/core';
import { stringify as toYaml } from 'yaml';
import { loadConfigFile } from '../config-file.js';
import { CONFIG_SCHEMA_FILE } from '../config-schema-file.js';
import { secretsFileFor, writeSecretsFile } from '../secrets/secrets-file.js';
import { generateSiteKey, parseSiteKey, SITE_KEY_ENV } from '../secrets/site-key.js';

/** The engines `tendril init` can write a connection for (ODBC connection strings: write the YAML by hand). */
export const INIT_DIALECTS = ['mysql', 'mssql', 'postgres'] as const;
export type InitDialect = (typeof INIT_DIALECTS)[number];

/** How the agent logs in to the EHR database. */
export const INIT_AUTH_MODES = ['database', 'windows'] as const;
export type InitAuthMode = (typeof INIT_AUTH_MODES)[number];

/** Everything the install form asks: practice, contact, connection, credentials. */
export interface InitAnswers {
  readonly practiceName: string;
  readonly contactName: string;
  readonly contactEmail: string;
  readonly connector: string;
  readonly connectionId: string;
  readonly timezone: string;
  readonly dialect: InitDialect;
  readonly host: string;
  readonly port?: number;
  /** SQL Server named instance (instead of a port). */
  readonly instance?: string;
  readonly database: string;
  readonly auth: InitAuthMode;
  /** Windows authentication: the account's domain. */
  readonly domain?: string;
  readonly user: string;
  readonly password: string;
  /** Enrolled with a hub (`tendril init --hub … --enroll …`): written as `hub:` with the credential in secrets.enc. */
  readonly hub?: { readonly url: string; readonly siteId: string; readonly credential: string };
}

export interface InitTarget {
  /** The config file to write (`tendril.yaml`); `secrets.enc` goes beside it. */
  readonly configFile: string;
  /** The agent store; default `<config folder>/.tendril/tendril.db`. */
  readonly storeFile?: string;
  /** Also write the site key to this file (mode 0600), for services that read TENDRIL_SITE_KEY_FILE. */
  readonly keyFile?: string;
  /** Replace an existing config and secrets file (a new site key is created). */
  readonly force?: boolean;
}

export interface InitResult {
  readonly configFile: string;
  readonly secretsFile: string;
  readonly keyFile?: string;
  /** Shown once; never written anywhere else unless `keyFile` was asked for. */
  readonly siteKey: string;
}

export const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SLUG = /^[a-z0-9-]{1,64}$/;

/** A connection id from the practice name: `Smile Dental (Main)` → `smile-dental-main`. */
export function slugify(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return slug || 'main';
}

/** Problems with the answers, all at once (flags in a scripted install can all be wrong together). */
export function answerProblems(a: Partial<InitAnswers>): string[] {
  const problems: string[] = [];
  const need = (value: unknown, flag: string) => {
    if (value === undefined || value === '') problems.push(`${flag} is required`);
  };
  need(a.practiceName, '--practice-name');
  need(a.contactName, '--contact-name');
  need(a.contactEmail, '--contact-email');
  need(a.connector, '--connector');
  need(a.host, '--host');
  need(a.database, '--database');
  need(a.user, '--user');
  if (a.password === undefined)
    problems.push('a password is required: --password-env <VAR> or --password-stdin');
  if (a.contactEmail && !EMAIL_PATTERN.test(a.contactEmail))
    problems.push('--contact-email must be an e-mail address');
  if (a.connectionId !== undefined && !SLUG.test(a.connectionId))
    problems.push('--connection-id must be 1–64 characters of a-z, 0-9 and -');
  if (a.timezone !== undefined && !isValidTimeZone(a.timezone))
    problems.push('--timezone must be an IANA time zone such as America/New_York');
  if (a.dialect !== undefined && !(INIT_DIALECTS as readonly string[]).includes(a.dialect))
    problems.push(`--dialect must be one of ${INIT_DIALECTS.join(', ')}`);
  if (a.port !== undefined && (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535))
    problems.push('--port must be a whole number from 1 to 65535');
  if (a.instance !== undefined && a.dialect !== 'mssql')
    problems.push('--instance is for SQL Server (--dialect mssql) only');
  if (a.port !== undefined && a.instance !== undefined) problems.push('give --port or --instance, not both');
  if (a.auth === 'windows') {
    if (a.dialect !== 'mssql') problems.push('--windows-auth is for SQL Server (--dialect mssql) only');
    need(a.domain, '--domain (Windows authentication)');
  }
  return problems;
}

/** The secret name of a connection's database password in `secrets.enc`. */
export function passwordSecretName(connectionId: string): string {
  return `${connectionId}.db-password`;
}

/** The YAML `tendril init` writes: no credential in it, only `${secret:…}` references. */
export function buildConfigDocument(a: InitAnswers, storeFile: string): Record<string, unknown> {
  const database: Record<string, unknown> = {
    dialect: a.dialect,
    host: a.host,
    ...(a.port !== undefined ? { port: a.port } : {}),
    ...(a.instance !== undefined ? { instance: a.instance } : {}),
    database: a.database,
    ...(a.auth === 'windows' ? { domain: a.domain } : {}),
    user: a.user,
    password: `\${secret:${passwordSecretName(a.connectionId)}}`,
  };
  return {
    site: { practiceName: a.practiceName, contact: { name: a.contactName, email: a.contactEmail } },
    store: { sqlite: storeFile },
    connections: [{ id: a.connectionId, connector: a.connector, timezone: a.timezone, database }],
    ...(a.hub
      ? { hub: { url: a.hub.url, siteId: a.hub.siteId, credential: `\${secret:${HUB_CREDENTIAL_SECRET}}` } }
      : {}),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Refuses (without --force) when the config, secrets or key file already exists: nothing is overwritten by accident. */
export async function assertInitTargetFree(target: InitTarget): Promise<void> {
  if (target.force) return;
  const configFile = resolve(target.configFile);
  const secretsFile = secretsFileFor(configFile);
  const keyFile = target.keyFile ? resolve(target.keyFile) : undefined;
  const present = [];
  for (const file of [configFile, secretsFile, ...(keyFile ? [keyFile] : [])])
    if (await exists(file)) present.push(file);
  if (present.length > 0) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `${present.join(' and ')} already exist${present.length === 1 ? 's' : ''}; pass --force to replace (a new site key is created and the old one stops working)`,
    );
  }
}

/**
 * Writes the site: the config (`tendril.yaml`, credentials only as `${secret:NAME}`), the encrypted
 * `secrets.enc` beside it, and optionally a 0600 key file. Creates the site key and returns it to be
 * shown once. The written config is loaded back with the new key before returning, so a problem is
 * found now rather than when the service starts; on a problem nothing is left behind.
 */
export async function initSite(answers: InitAnswers, target: InitTarget): Promise<InitResult> {
  await assertInitTargetFree(target);
  const configFile = resolve(target.configFile);
  const secretsFile = secretsFileFor(configFile);
  const keyFile = target.keyFile ? resolve(target.keyFile) : undefined;
  const siteKey = generateSiteKey();
  const storeFile = resolve(target.storeFile ?? join(dirname(configFile), '.tendril', 'tendril.db'));
  const header = [
    // Editors with the YAML language server (VS Code's YAML extension…) check and complete the file.
    `# yaml-language-server: $schema=${pathToFileURL(CONFIG_SCHEMA_FILE).href}`,
    `# Written by \`tendril init\` on ${new Date().toISOString().slice(0, 10)}. Reference: docs/configuration.md`,
    '# Credentials are not in this file: ${secret:NAME} values are decrypted from secrets.enc (beside this',
    '# file) with the site key, given to the agent in TENDRIL_SITE_KEY or TENDRIL_SITE_KEY_FILE.',
    '',
  ].join('\n');
  const written: string[] = [];
  try {
    // A folder made here holds secrets.enc: owner only. The store's folder is made now too, so it
    // is 0700 before anything lands in it (docs/security.md, "PHI at rest").
    await mkdir(dirname(configFile), { recursive: true, mode: 0o700 });
    await mkdir(dirname(storeFile), { recursive: true, mode: 0o700 });
    if (process.platform !== 'win32') await chmod(dirname(storeFile), 0o700);
    await writeSecretsFile(secretsFile, parseSiteKey(siteKey), {
      [passwordSecretName(answers.connectionId)]: answers.password,
      ...(answers.hub ? { [HUB_CREDENTIAL_SECRET]: answers.hub.credential } : {}),
    });
    written.push(secretsFile);
    await writeFile(configFile, header + toYaml(buildConfigDocument(answers, storeFile)), { mode: 0o640 });
    written.push(configFile);
    if (keyFile) {
      await mkdir(dirname(keyFile), { recursive: true });
      await writeFile(keyFile, `${siteKey}\n`, { mode: 0o600 });
      await chmod(keyFile, 0o600);
      written.push(keyFile);
    }
    await loadConfigFile(configFile, { ...process.env, [SITE_KEY_ENV]: siteKey });
  } catch (error) {
    await Promise.all(written.map((file) => rm(file, { force: true })));
    throw error;
  }
  return { configFile, secretsFile, ...(keyFile ? { keyFile } : {}), siteKey };
}
