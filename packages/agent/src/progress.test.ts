import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, renderProgressLine, terminalLogDestination } from './progress.js';

function terminal() {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    }),
    { isTTY: true, columns: 120 },
  );
  return { stream, text: () => text };
}

describe('progress line', () => {
  it('shows the count, the total, the percentage and an ETA from the rate so far', () => {
    expect(renderProgressLine('patients', 4000, 10_000, 2000, 'rows')).toMatch(
      /^patients 4,000\/10,000 rows 40% ETA 3 s \[#{10}\.{14}\]$/,
    );
    expect(renderProgressLine('patients', 4000, undefined, 2000, 'rows')).toBe('patients: 4,000 rows');
    expect(renderProgressLine('patients', 10, 10_000, 500, 'rows')).toContain('ETA …');
  });

  it('keeps log lines off the progress line: a log clears it, prints on its own line, and the line is drawn again', () => {
    const { stream, text } = terminal();
    let clock = 0;
    const progress = createProgress(stream, 'rows read', () => clock);
    progress.tick('patients', 100, 1000);
    clock = 1000;
    progress.tick('patients', 500, 1000);
    terminalLogDestination().write('{"msg":"a log line"}\n');
    progress.stop();
    const out = text();
    // The log line starts at the beginning of a cleared line and ends with a newline,
    // then the progress line is redrawn after it.
    expect(out).toContain('\r\x1b[2K{"msg":"a log line"}\npatients 500/1,000 rows read 50% ETA 1 s');
    expect(out.endsWith('\n')).toBe(true);
  });

  it('is silent when standard error is not a terminal', () => {
    let written = '';
    const pipe = new Writable({
      write(chunk: Buffer, _e, done) {
        written += chunk.toString('utf8');
        done();
      },
    });
    const progress = createProgress(pipe, 'rows read');
    progress.tick('patients', 5, 10);
    progress.stop();
    expect(written).toBe('');
  });
});
