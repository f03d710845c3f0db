import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { REPO_ROOT } from './support/paths.js';

const CHECKED_IN = resolve(REPO_ROOT, 'packages/agent/tendril.schema.json');

describe('the JSON Schema of tendril.yaml', () => {
  it('is what `tendril config schema` prints (regenerate: tendril config schema --output packages/agent/tendril.schema.json)', async () => {
    const result = await runCli(['config', 'schema']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(readFileSync(CHECKED_IN, 'utf8'));
  });

  it("carries each connector's options on connections of that connector", async () => {
    const schema = JSON.parse(readFileSync(CHECKED_IN, 'utf8')) as {
      properties: {
        connections: { items: { properties: Record<string, { enum?: string[] }>; allOf: unknown[] } };
      };
    };
    const connection = schema.properties.connections.items;
    // Every installed connector, in the registry's order (a scaffolded one included, untouched).
    const installed = JSON.parse((await runCli(['connectors', '--json'])).stdout) as { id: string }[];
    expect(installed.map((c) => c.id)).toEqual(expect.arrayContaining(['open-dental', 'dentrix-enterprise']));
    expect(connection.properties['connector']!.enum).toEqual(installed.map((c) => c.id));
    const openDental = connection.allOf.find(
      (rule) =>
        (rule as { if: { properties: { connector: { const: string } } } }).if.properties.connector.const ===
        'open-dental',
    ) as {
      then: {
        properties: {
          options: { properties: Record<string, { enum?: string[] }>; additionalProperties: boolean };
        };
      };
    };
    expect(openDental.then.properties.options.properties['brokenAppointmentStatus']!.enum).toContain(
      'cancelled',
    );
    expect(openDental.then.properties.options.additionalProperties).toBe(false);
  });
});
