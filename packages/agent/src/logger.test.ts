import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRootLogger } from './logger.js';

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
