import { describe, expect, it } from 'vitest';
import { createSqlClient } from './client.js';
import { knexLogText, type SqlLogger } from './knex-log.js';

function capture(): SqlLogger & {
  lines: { level: string; fields: Record<string, unknown>; message: string }[];
} {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  return {
    lines,
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => lines.push({ level: 'error', fields, message }),
    debug: (fields, message) => lines.push({ level: 'debug', fields, message }),
  };
}

describe('knex log routing', () => {
  it('keeps only the first line of a message, with quoted literals blanked', () => {
    const error = new Error(
      "Incorrect datetime value: '1987-04-12 Rivera' for column 'Birthdate'\n    at Query.execute (x.js:1:1)",
    );
    expect(knexLogText(`Acquire connection error: ${error.stack}`)).toBe(
      'Acquire connection error: Error: Incorrect datetime value: ? for column ?',
    );
    expect(knexLogText(error)).toBe('Incorrect datetime value: ? for column ?');
    expect(knexLogText('Duplicate entry "Ana|Maria" for key `PRIMARY`')).toBe('Duplicate entry ? for key ?');
    // A debug query object carries bindings: never logged.
    expect(knexLogText({ sql: 'select * from patient where LName = ?', bindings: ['Rivera'] })).not.toContain(
      'Rivera',
    );
    expect(knexLogText('x'.repeat(500))).toHaveLength(201);
  });

  it('routes a real "database down" warning to the logger, text only, and prints nothing itself', async () => {
    const logger = capture();
    const printed: unknown[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void printed.push(args);
    try {
      // Nothing listens on port 1 on loopback: the pool's connect fails.
      const client = createSqlClient(
        { url: 'mysql://tendril:secret-pw@127.0.0.1:1/tendril_nit_none' },
        { logger },
      );
      await expect(client.execute(client.knex.raw('SELECT 1'))).rejects.toThrow();
      await client.close();
      const silent = createSqlClient({ url: 'mysql://tendril:secret-pw@127.0.0.1:1/tendril_nit_none' });
      await expect(silent.execute(silent.knex.raw('SELECT 1'))).rejects.toThrow();
      await silent.close();
    } finally {
      console.log = original;
    }
    expect(printed).toEqual([]);
    expect(logger.lines.length).toBeGreaterThan(0);
    const acquire = logger.lines.find((l) => l.message.startsWith('Acquire connection error'));
    expect(acquire).toMatchObject({ level: 'warn', fields: { event: 'sql.knex', knex: 'warn' } });
    expect(acquire!.message).toContain('ECONNREFUSED');
    for (const line of logger.lines) {
      expect(line.message).not.toContain('\n');
      expect(line.message).not.toContain('secret-pw');
      expect(line.message).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
    }
  });
});
