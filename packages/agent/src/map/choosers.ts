import type { Interface as ReadlineInterface } from 'node:readline/promises';
import { configError, type ConfigProblem, type TableDefinition } from '@tendril/core';
import type { MappingPreview } from './preview.js';
import type { ColumnProposal, TableCandidate } from './propose.js';
import { describeCandidate, describeFilled, type MapChooser } from './run-map.js';

/**
 * An answers file for `tendril map --answers` (YAML or JSON): per stream, the table and the
 * declared columns to take instead of the proposals, and whether to write. Whatever it does not
 * name is taken as proposed.
 *
 * ```yaml
 * patients:
 *   table: tblPatient
 *   columns: { ChartNumber: MRN }
 * appointments: {}          # every proposal accepted
 * coverage: { write: false } # previewed, not written
 * ```
 */
export type MapAnswers = Readonly<
  Record<string, { table?: string; columns?: Readonly<Record<string, string>>; write?: boolean }>
>;

/** Checks an answers document against the connector's streams and declared columns, every problem at once. */
export function parseMapAnswers(
  label: string,
  raw: unknown,
  streams: Readonly<Record<string, TableDefinition>>,
): MapAnswers {
  const problems: ConfigProblem[] = [];
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError(label, [
      { path: '(file)', message: 'must map stream names to { table, columns, write }' },
    ]);
  }
  for (const [stream, answer] of Object.entries(raw as Record<string, unknown>)) {
    const table = streams[stream];
    if (!table) {
      problems.push({ path: stream, message: `unknown stream; streams: ${Object.keys(streams).join(', ')}` });
      continue;
    }
    if (answer === null) continue;
    if (typeof answer !== 'object' || Array.isArray(answer)) {
      problems.push({ path: stream, message: 'must be { table?, columns?, write? }' });
      continue;
    }
    for (const [key, value] of Object.entries(answer as Record<string, unknown>)) {
      if (key === 'table' && typeof value !== 'string')
        problems.push({ path: `${stream}.table`, message: 'must be a table name' });
      else if (key === 'write' && typeof value !== 'boolean')
        problems.push({ path: `${stream}.write`, message: 'must be true or false' });
      else if (key === 'columns') {
        if (!value || typeof value !== 'object' || Array.isArray(value)) {
          problems.push({ path: `${stream}.columns`, message: 'must map declared columns to site columns' });
          continue;
        }
        for (const [declared, site] of Object.entries(value as Record<string, unknown>)) {
          if (!(declared in table.columns))
            problems.push({
              path: `${stream}.columns.${declared}`,
              message: `is not a declared column of ${table.table}; declared: ${Object.keys(table.columns).join(', ')}`,
            });
          if (typeof site !== 'string' || site === '')
            problems.push({
              path: `${stream}.columns.${declared}`,
              message: 'must be the column name at this site',
            });
        }
      } else if (!['table', 'write', 'columns'].includes(key))
        problems.push({ path: `${stream}.${key}`, message: 'unknown key; use table, columns, write' });
    }
  }
  if (problems.length > 0) throw configError(label, problems);
  return raw as MapAnswers;
}

/** Takes the answers, else every proposal (`--answers`, `--accept`). */
export function answersChooser(answers: MapAnswers): MapChooser {
  return {
    table: async (stream, _declared, _candidates, proposed) => answers[stream]?.table ?? proposed,
    column: async (stream, proposal, proposed) => answers[stream]?.columns?.[proposal.declared] ?? proposed,
    confirm: async (stream) => answers[stream]?.write ?? true,
  };
}

/**
 * Asks in the terminal: each proposal is the default (Enter), a number picks another candidate,
 * a name picks any column, `-` skips. After the preview, writing needs a `y`.
 */
export function terminalChooser(rl: ReadlineInterface, say: (text: string) => void): MapChooser {
  const pick = async (
    question: string,
    options: readonly string[],
    proposed: string | undefined,
  ): Promise<string | undefined> => {
    const answer = (await rl.question(question)).trim();
    if (answer === '') return proposed;
    if (answer === '-') return undefined;
    const n = Number(answer);
    if (Number.isInteger(n) && n >= 1 && n <= options.length) return options[n - 1];
    return answer;
  };
  return {
    async table(stream, declared, candidates: readonly TableCandidate[], proposed) {
      say(`\nstream ${stream} (${declared.resourceType}), declared table ${declared.table}`);
      candidates.forEach((c, i) =>
        say(
          `  ${i + 1}) ${c.table}  ${c.score.toFixed(2)} (${c.matchedColumns} of ${Object.keys(declared.columns).length} columns look alike)`,
        ),
      );
      return pick(
        `  table [Enter = ${proposed ?? 'skip'}, a number, a name, - to skip]: `,
        candidates.map((c) => c.table),
        proposed,
      );
    },
    async column(_stream, proposal: ColumnProposal, proposed) {
      const uses = proposal.fields.length > 0 ? ` → ${proposal.fields.join(', ')}` : '';
      say(`  ${proposal.declared} (${proposal.declaredType}, ${proposal.role})${uses}`);
      const top = proposal.candidates.slice(0, 4);
      top.forEach((c, i) => say(`     ${i + 1}) ${describeCandidate(c)}`));
      return pick(
        `     column [Enter = ${proposed ?? 'none'}]: `,
        top.map((c) => c.column),
        proposed,
      );
    },
    async confirm(stream, preview: MappingPreview) {
      say(`  preview of ${stream}: ${preview.sampleRows} rows mapped, ${preview.failedRows} failed`);
      say(`    fields filled: ${describeFilled(preview)}`);
      for (const f of preview.failures) say(`    ${f.rows} × ${f.code}: ${f.message}`);
      for (const w of preview.warnings) say(`    ${w.rows} × ${w.code} on ${w.field}`);
      for (const example of preview.examples) say(`    ${JSON.stringify(example)}`);
      const answer = (await rl.question(`  write the tableMap of ${stream} to the config? [y/N]: `)).trim();
      return /^y(es)?$/i.test(answer);
    },
  };
}
