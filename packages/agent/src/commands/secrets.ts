import { access } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { TendrilError } from '@tendril/core';
import type { CliContext, CommandRegistrar } from '../cli-context.js';
import { parseConfigText } from '../config-file.js';
import { createPrompter } from '../init/prompter.js';
import {
  readSecretsFile,
  SECRET_NAME_PATTERN,
  secretsFileFor,
  writeSecretsFile,
} from '../secrets/secrets-file.js';
import { loadSiteKey, SITE_KEY_ENV, SITE_KEY_FILE_ENV } from '../secrets/site-key.js';

async function siteKeyOrFail(ctx: CliContext): Promise<Buffer> {
  const found = await loadSiteKey(ctx.io.env);
  if (!found) {
    throw new TendrilError(
      'TENDRIL_E_SECRETS',
      `no site key: set ${SITE_KEY_ENV} to the key \`tendril init\` showed, or ${SITE_KEY_FILE_ENV} to a file (mode 0600) holding it`,
    );
  }
  return found.key;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Where the config refers to each secret (`${secret:NAME}`), read from the YAML without validating it. */
async function secretReferences(configFile: string): Promise<Map<string, string[]>> {
  const references = new Map<string, string[]>();
  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch {
    return references;
  }
  const parsed = parseConfigText(text);
  if (!parsed.ok) return references;
  const walk = (value: unknown, path: string[]): void => {
    if (typeof value === 'string') {
      for (const match of value.matchAll(/\$\{secret:([^}]*)\}/g)) {
        const list = references.get(match[1]!) ?? [];
        list.push(path.join('.'));
        references.set(match[1]!, list);
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, String(i)]));
    else if (value && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(parsed.raw, []);
  return references;
}

async function readValue(ctx: CliContext, name: string, fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin)
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const prompter = createPrompter(process.stdin, ctx.io.stderr);
  try {
    const value = await prompter.askSecret(`New value of ${name}`);
    const again = await prompter.askSecret('Again, to confirm');
    if (value !== again)
      throw new TendrilError('TENDRIL_E_USAGE', 'the two values differ; nothing was changed');
    return value;
  } finally {
    prompter.close();
  }
}

/**
 * `tendril secrets set|list`: change one value in `secrets.enc` (beside the config) without
 * `tendril init --force` (which makes a new site key), and list the names in it. Values are never
 * printed, echoed or taken as a command-line argument (which would show in the process list).
 */
export const registerSecretsCommand: CommandRegistrar = (program, ctx) => {
  const secrets = program
    .command('secrets')
    .description('the encrypted secrets beside the config (secrets.enc): set a value, list the names');

  secrets
    .command('set <name>')
    .description(
      'store a secret (read from standard input, or asked without echo on a terminal); the config refers to it as ${secret:<name>}',
    )
    .requiredOption('--config <file>', 'config file (YAML); secrets.enc is beside it')
    .option('--stdin', 'read the value from standard input even on a terminal')
    .action(async (name: string, opts: { config: string; stdin?: boolean }) => {
      if (!SECRET_NAME_PATTERN.test(name)) {
        throw new TendrilError(
          'TENDRIL_E_USAGE',
          `secret name "${name}": use letters, digits, ".", "_" and "-" (at most 128, starting with a letter or digit)`,
        );
      }
      const key = await siteKeyOrFail(ctx);
      const file = secretsFileFor(opts.config);
      // Read (and so check the key) before asking for the value.
      const current = (await exists(file)) ? await readSecretsFile(file, key) : {};
      const value = await readValue(ctx, name, opts.stdin === true);
      if (value === '') throw new TendrilError('TENDRIL_E_USAGE', 'the value is empty; nothing was changed');
      const replaced = current[name] !== undefined;
      await writeSecretsFile(file, key, { ...current, [name]: value });
      const used = (await secretReferences(opts.config)).get(name);
      ctx.write(
        [
          `${replaced ? 'replaced' : 'added'} secret ${name} in ${file}`,
          used
            ? `used by ${used.join(', ')}; a running agent reads it at its next start (restart the service)`
            : `not referenced by ${opts.config} yet: write \${secret:${name}} where it is needed`,
        ].join('\n'),
      );
    });

  secrets
    .command('list')
    .description('the names in secrets.enc (never the values), and where the config uses each')
    .requiredOption('--config <file>', 'config file (YAML); secrets.enc is beside it')
    .option('--json', 'print [{name, usedBy}] as JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const key = await siteKeyOrFail(ctx);
      const file = secretsFileFor(opts.config);
      const names = Object.keys(await readSecretsFile(file, key)).sort();
      const references = await secretReferences(opts.config);
      const rows = names.map((name) => ({ name, usedBy: references.get(name) ?? [] }));
      const missing = [...references.keys()].filter((name) => !names.includes(name)).sort();
      if (opts.json) {
        ctx.write(JSON.stringify({ file, secrets: rows, missing }));
        return;
      }
      ctx.write(
        [
          `${file}: ${names.length} secret${names.length === 1 ? '' : 's'}`,
          ...rows.map(
            (r) =>
              `  ${r.name}${r.usedBy.length ? `  (used by ${r.usedBy.join(', ')})` : '  (not used by the config)'}`,
          ),
          ...missing.map(
            (name) => `  ${name}  MISSING: the config refers to it; tendril secrets set ${name}`,
          ),
        ].join('\n'),
      );
    });
};
