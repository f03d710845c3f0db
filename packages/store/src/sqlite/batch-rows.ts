import type { CompiledQuery, QueryResult } from 'kysely';
import { Slot, type RowValue } from '../slots.js';
import type { SqliteStatements } from './driver.js';

/**
 * Runs a store batch (prepared.ts `Batch`) on SQLite: its one-row statement once per row, on the
 * connection the transaction holds, with the statement prepared once for the whole batch.
 *
 * Not one multi-row `INSERT … VALUES (…), (…), …`: SQLite gives a statement that may write many
 * rows a statement journal (so that a failure halfway undoes only that statement), and copies
 * every page the statement touches into it before changing the page. The outbox's and the
 * shadow's indexes are keyed by random ids, so each row touches pages of its own, and a
 * multi-row statement copied about as much as the WAL then received: at 100,000 events it doubled
 * the bytes written and cost more CPU than the statement calls it saved (docs/performance.md,
 * "The store's share"). A one-row INSERT has no statement journal.
 */
export function runBatchRows(
  statements: SqliteStatements,
  query: CompiledQuery,
  parameters: readonly unknown[],
  rows: readonly Readonly<Record<string, RowValue>>[],
): QueryResult<unknown> {
  const columns = parameters.map((p) => (p instanceof Slot && p.kind === 'column' ? p.name : undefined));
  const statement = statements.get(query.sql);
  const bound = [...parameters];
  const out: unknown[] = [];
  let affected = 0;
  for (const row of rows) {
    for (let i = 0; i < columns.length; i += 1) {
      const column = columns[i];
      if (column !== undefined) bound[i] = row[column];
    }
    if (statement.reader) for (const r of statement.all(...bound)) out.push(r);
    else affected += statement.run(...bound).changes;
  }
  return { rows: out, numAffectedRows: BigInt(affected) };
}
