import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mapRow, mappingContext } from './mapping.js';
import { RESOURCE_SCHEMAS } from './model/index.js';
import { CLOCK_DOMAINS, defineTable, type FieldMapping } from './sdk.js';
import * as t from './transforms.js';

/*
 * docs/mapping-language.md stays complete and true: every transform and field builder exported by
 * transforms.ts has a section, every clock domain and cursor mode and every model field is listed,
 * and every example row (`| expression | input | result |`) gives the result it shows.
 */

const page = readFileSync(new URL('../../docs/mapping-language.md', import.meta.url), 'utf8');
const ctx = mappingContext({
  connectionId: 'smile-dental-main',
  connectorId: 'open-dental',
  timezone: 'America/New_York',
  currency: 'USD',
});

/** Every runtime export of transforms.ts by its documented name (`money.cents` for nested ones). */
function exportedNames(): string[] {
  const names: string[] = [];
  for (const [name, value] of Object.entries(t)) {
    if (typeof value === 'function') names.push(name);
    else if (value && typeof value === 'object')
      for (const [inner, fn] of Object.entries(value))
        if (typeof fn === 'function') names.push(`${name}.${inner}`);
  }
  return names;
}

interface Example {
  readonly expression: string;
  readonly input: string;
  readonly result: string;
}

/** The example rows: three code cells under a `| expression | input | result |` header. */
function examples(): Example[] {
  const out: Example[] = [];
  let inTable = false;
  for (const line of page.split('\n')) {
    if (line.startsWith('| expression | input | result |')) {
      inTable = true;
      continue;
    }
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    if (!inTable || line.startsWith('|---')) continue;
    const cells = [...line.matchAll(/\| `(.*?)` (?=\|)/g)].map((m) => m[1]!);
    expect(cells, line).toHaveLength(3);
    out.push({ expression: cells[0]!, input: cells[1]!, result: cells[2]! });
  }
  return out;
}

// The page's own examples are code written by us, evaluated only in this test.
const evaluate = (source: string, scope: Record<string, unknown> = {}): unknown =>
  new Function(...Object.keys(scope), `return (${source});`)(...Object.values(scope));

/** What the example's expression gives for its input: a transform's output, a field's value, a ref's source id. */
function run(expression: unknown, input: unknown): unknown {
  if (typeof expression === 'function')
    return (expression as (v: unknown, c: typeof ctx) => unknown)(input, ctx);
  const mapping = expression as FieldMapping;
  const row = input as Record<string, unknown>;
  if (mapping.kind === 'field')
    return mapping.apply(
      mapping.columns.map((c) => row[c]),
      ctx,
    );
  // A reference lands in a field of the right shape: one id, or a list of ids.
  const field = mapping.many ? 'practitionerIds' : 'patientId';
  const table = defineTable({
    resourceType: 'Appointment',
    table: 'example',
    key: ['__key'],
    columns: Object.fromEntries(['__key', ...mapping.columns].map((c) => [c, 'int'])),
    cursor: { mode: 'snapshot' },
    constants: { status: 'booked' },
    fields: { [field]: mapping },
  });
  const mapped = mapRow(table, { __key: 1, ...row }, ctx, '2025-01-01T00:00:00Z');
  return mapped.kind === 'live' ? mapped.refs[field] : undefined;
}

describe('docs/mapping-language.md', () => {
  it('has a section for every transform and field builder transforms.ts exports', () => {
    const missing = exportedNames().filter((name) => !page.includes(`### \`t.${name}\``));
    expect(missing).toEqual([]);
    expect(exportedNames().length).toBeGreaterThan(25);
  });

  it('gives every section at least one checked example', () => {
    const sections = page.split('\n### ').slice(1);
    const without = sections
      .filter((s) => !s.includes('| expression | input | result |'))
      .map((s) => s.split('\n')[0]);
    expect(without).toEqual([]);
  });

  it('describes every clock domain and cursor mode', () => {
    for (const clock of CLOCK_DOMAINS) expect(page, clock).toContain(`| \`${clock}\` |`);
    for (const mode of ['timestamp', 'window', 'snapshot']) expect(page, mode).toContain(`| \`${mode}\` |`);
    for (const word of [
      '`also`',
      '`fallback`',
      '`onValues`',
      '`where`',
      '`excludeWhen`',
      '`deletedWhen`',
      '`deleteLog`',
    ])
      expect(page, word).toContain(word);
  });

  it('lists every field of every model resource', () => {
    const base = new Set(['resourceType', 'id', 'sourceId', 'meta', 'identifiers']);
    for (const [type, schema] of Object.entries(RESOURCE_SCHEMAS)) {
      const row = page.split('\n').find((line) => line.startsWith(`| ${type} |`));
      expect(row, type).toBeDefined();
      const fields = Object.keys((schema as unknown as { shape: Record<string, unknown> }).shape);
      expect(
        fields.filter((f) => !base.has(f) && !row!.includes(`\`${f}\``)),
        type,
      ).toEqual([]);
    }
  });

  it.each(examples())('$expression on $input gives $result', ({ expression, input, result }) => {
    expect(run(evaluate(expression, { t }), evaluate(input))).toEqual(evaluate(result));
  });
});
