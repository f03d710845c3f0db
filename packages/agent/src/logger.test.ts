import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRootLogger, RECENT_LOG_LINES, recentLogLines } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createRootLogger({ destination }) };
}

describe('root logger redaction', () => {
  it("keeps the logger's name and a plain status page URL", () => {
    const { lines, logger } = capture();
    logger.info({ url: 'http://127.0.0.1:8787', event: 'api.listening' }, 'up');
    expect(lines[0]).toMatchObject({ name: 'tendril', url: 'http://127.0.0.1:8787' });
  });

  it('still censors names, credentials in URLs, URLs with queries and secrets, at any depth', () => {
    const { lines, logger } = capture();
    logger.child({ connectionId: 'a' }).info(
      {
        name: 'Ann Patient',
        url: 'mysql://reader:s3cret@db/od',
        nested: { url: 'https://hooks.example/in?token=abc', name: 'Bob', password: 'pw' },
      },
      'x',
    );
    const line = lines[0]!;
    expect(line['name']).toBe('[redacted]');
    expect(line['url']).toBe('[redacted]');
    expect(line['nested']).toEqual({ url: '[redacted]', name: '[redacted]', password: '[redacted]' });
    expect(JSON.stringify(line)).not.toMatch(/Ann|Bob|s3cret|abc/);
  });
});

describe('recent log lines (the hub `logs` command)', () => {
  it('keeps the newest lines as written, already censored, and no more than the limit', () => {
    const { logger } = capture();
    logger.info({ name: 'Zelda Patient', event: 'test.phi' }, 'a line with a name field');
    const newest = recentLogLines(1);
    expect(newest).toHaveLength(1);
    expect(newest[0]).toContain('"event":"test.phi"');
    expect(newest[0]).not.toContain('Zelda');
    for (let i = 0; i < RECENT_LOG_LINES * 2 + 10; i += 1) logger.info({ i }, 'filler');
    const all = recentLogLines(RECENT_LOG_LINES * 3);
    expect(all).toHaveLength(RECENT_LOG_LINES);
    expect(all[all.length - 1]).toContain(`"i":${RECENT_LOG_LINES * 2 + 9}`);
    expect(recentLogLines(3)).toHaveLength(3);
  });
});
