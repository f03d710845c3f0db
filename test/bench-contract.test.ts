import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/paths.js';

/** Runs a benchmark at a tiny size; returns its last line, parsed (docs/performance.md, "The benchmarks"). */
function lastJsonLine(name: string, args: string[]): Record<string, unknown> {
  const run = spawnSync(
    process.execPath,
    [resolve(REPO_ROOT, 'test/bench/run.mjs'), name, ...args, '--json'],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  expect(run.status, run.stderr).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

// Tiny sizes: this checks the benchmarks' output contract, not their speed.
describe('benchmarks print one JSON line last with --json', () => {
  it('backload: one entry per size, with the baselines, the ratio and a stage profile of the first size', () => {
    const result = lastJsonLine('backload', ['--patients', '300,600']) as {
      sizes: Record<string, unknown>[];
    };
    expect(result.sizes.map((s) => s['patients'])).toEqual([300, 600]);
    for (const size of result.sizes) {
      for (const field of [
        'rowsPerSecond',
        'rawReadRowsPerSecond',
        'rawOutboxRowsPerSecond',
        'ratioRawOutbox',
        'peakRssMb',
      ])
        expect(size[field], field).toBeGreaterThan(0);
      expect(size['ratioRawOutbox']).toBeCloseTo(
        (size['rowsPerSecond'] as number) / (size['rawOutboxRowsPerSecond'] as number),
        1,
      );
    }
    const stages = result.sizes[0]!['stagesMs'] as Record<string, number>;
    expect(Object.keys(stages)).toEqual(
      expect.arrayContaining(['map', 'validate (zod)', 'hash (canonical JSON, SHA-256)']),
    );
    expect(result.sizes[1]!['stagesMs']).toBeUndefined();
  }, 180_000);

  it('delivery: the ratio to raw undici and a stage profile', () => {
    const result = lastJsonLine('delivery', ['--events', '300', '--concurrency', '4']);
    expect(result['events']).toBe(300);
    expect(result['ratio']).toBeCloseTo(
      (result['deliveriesPerSecond'] as number) / (result['rawPerSecond'] as number),
      1,
    );
    expect(result['cpuRatio']).toBeCloseTo(
      (result['rawCpuMsPer1k'] as number) / (result['cpuMsPer1k'] as number),
      1,
    );
    // The receiver's CPU is measured on both sides, so the machine's ratio sits between the two.
    const machine =
      ((result['rawCpuMsPer1k'] as number) + (result['rawReceiverCpuMsPer1k'] as number)) /
      ((result['cpuMsPer1k'] as number) + (result['receiverCpuMsPer1k'] as number));
    expect(result['machineCpuRatio']).toBeCloseTo(machine, 1);
    expect(result['receiverCpuMsPer1k']).toBeGreaterThan(0);
    expect(result['coresBusy']).toBeGreaterThan(0);
    expect(Object.keys(result['stagesMs'] as object)).toEqual(
      expect.arrayContaining(['send (undici, HTTP)']),
    );
  }, 120_000);
});
