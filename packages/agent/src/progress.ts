type TtyStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface Progress {
  /** Known total (seeding, a backload to a subscriber). */
  update: (done: number, total: number) => void;
  /**
   * One line per label (a stream): the running count, with a bar, percentage and ETA when the
   * total is known (a backload: the table's row count); a new label starts a new line.
   */
  tick: (label: string, count: number, total?: number) => void;
  stop: () => void;
}

/**
 * The one progress line on a terminal, and the log lines written around it: a log line clears the
 * progress line, is written on its own line, and the progress line is drawn again below it, so
 * logs never land on the bar. `createRootLogger` writes through {@link terminalLogDestination}.
 */
const terminal = {
  stream: undefined as TtyStream | undefined,
  line: '',
  write(chunk: string): void {
    const stream = terminal.stream;
    if (!stream || terminal.line === '') {
      (stream ?? process.stderr).write(chunk);
      return;
    }
    stream.write(`\r\x1b[2K${chunk}${terminal.line}`);
  },
  draw(stream: TtyStream, line: string): void {
    terminal.stream = stream;
    const width = Math.max(20, (stream.columns ?? 100) - 1);
    terminal.line = line.length > width ? line.slice(0, width) : line;
    stream.write(`\r\x1b[2K${terminal.line}`);
  },
  /** Ends the current line (kept on screen) so the next one starts below it. */
  finish(): void {
    if (terminal.stream && terminal.line !== '') terminal.stream.write('\n');
    terminal.line = '';
  },
};

/** A pino destination for standard error that keeps log lines off the progress line (on a terminal). */
export function terminalLogDestination(): { write(chunk: string): void } {
  return { write: (chunk) => terminal.write(chunk) };
}

const number = (n: number) => n.toLocaleString('en-US');

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * `label 4,000/10,000 rows 40% ETA 12 s [#########.........]`: the ETA is the remaining rows at the
 * average rate so far, shown once a second has passed.
 */
export function renderProgressLine(
  label: string,
  done: number,
  total: number | undefined,
  elapsedMs: number,
  unit = '',
): string {
  const of = unit ? ` ${unit}` : '';
  if (total === undefined || total <= 0) return `${label}: ${number(done)}${of}`;
  const shown = Math.min(done, total);
  const ratio = shown / total;
  const width = 24;
  const filled = Math.round(ratio * width);
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const eta =
    done >= total
      ? 'done'
      : elapsedMs >= 1000 && rate > 0
        ? `ETA ${duration((total - done) / rate)}`
        : 'ETA …';
  // Numbers first: a narrow terminal cuts the bar, never the count or the ETA.
  return `${label} ${number(done)}/${number(total)}${of} ${Math.floor(ratio * 100)}% ${eta} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** A progress line on a TTY; silent otherwise, so logs and pipes stay clean. Redrawn at most 10 times a second. */
export function createProgress(stream: TtyStream, label: string, now: () => number = Date.now): Progress {
  if (!stream.isTTY) return { update: () => undefined, tick: () => undefined, stop: () => undefined };
  let current: string | undefined;
  let startedAt = 0;
  let drawnAt = 0;
  /** The newest line when a redraw was skipped, drawn before the line is finished. */
  let pending: string | undefined;
  const draw = (line: string, force: boolean) => {
    const t = now();
    if (!force && t - drawnAt < 100) {
      pending = line;
      return;
    }
    drawnAt = t;
    pending = undefined;
    terminal.draw(stream, line);
  };
  const end = () => {
    if (current === undefined) return;
    if (pending !== undefined) terminal.draw(stream, pending);
    pending = undefined;
    terminal.finish();
    current = undefined;
  };
  const begin = (key: string) => {
    if (key === current) return;
    end();
    current = key;
    startedAt = now();
    drawnAt = 0;
  };
  return {
    update(done, total) {
      begin(label);
      draw(renderProgressLine(label, done, total, now() - startedAt), done >= total);
    },
    tick(name, count, total) {
      begin(name);
      draw(renderProgressLine(name, count, total, now() - startedAt, label), false);
    },
    stop: end,
  };
}
