import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  /** Known total (seeding). */
  update: (done: number, total: number) => void;
  /** Unknown total (backloads): a running count per stream. */
  tick: (label: string, count: number) => void;
  stop: () => void;
}

/** A progress bar on a TTY; silent otherwise, so logs and pipes stay clean. */
export function createProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }, label: string): Progress {
  if (!stream.isTTY) return { update: () => undefined, tick: () => undefined, stop: () => undefined };
  let bar: SingleBar | undefined;
  let lastLabel = '';
  return {
    update(done, total) {
      if (!bar) {
        bar = new SingleBar(
          { stream, format: `${label} [{bar}] {percentage}% {value}/{total}`, hideCursor: true },
          Presets.shades_classic,
        );
        bar.start(total, 0);
      }
      bar.update(done);
    },
    tick(name, count) {
      if (name !== lastLabel && lastLabel) stream.write('\n');
      lastLabel = name;
      stream.write(`\r${name}: ${count.toLocaleString('en-US')} ${label}`);
    },
    stop() {
      bar?.stop();
      bar = undefined;
      if (lastLabel) stream.write('\n');
      lastLabel = '';
    },
  };
}
