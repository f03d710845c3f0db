import type { CompiledQuery, QueryResult } from 'kysely';
import { Slot, type RowValue } from '../slots.js';
import type { SqliteStatements } from './driver.js';

/**
 * Runs a store batch (prepared.ts `Batch`) on SQLite as few statements as possible: an
 * `INSERT … VALUES (…)` compiled for one row is rewritten to carry many rows in one statement
 * (`VALUES (…), (…), …`), so a page of 1,000 events costs a handful of statement calls instead of
 * 1,000 (docs/performance.md, "Backload"). Rows keep their order inside the statement,
 * and SQLite applies them one after another, so `ON CONFLICT` sees earlier rows of the same
 * statement exactly as it saw earlier statements. Any other statement (an `UPDATE … FROM`), or one
 * whose text this module does not recognise, runs once per row as before.
 */

/** SQLite's default bound on `?` parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
export const SQLITE_MAX_VARIABLES = 32_766;
/**
 * Rows per statement at most. Larger statements save little once the per-call cost is spread
 * (and each size is one more prepared text): 256 rows cut 1,000 calls to 4.
 */
export const MAX_ROWS_PER_STATEMENT = 256;

/** An INSERT's one `VALUES` tuple, located in its compiled SQL. */
interface InsertShape {
  /** The SQL up to and including `values `. */
  readonly head: string;
  /** `(?, ?, …)`: the one row's tuple. */
  readonly tuple: string;
  /** The SQL after the tuple (`on conflict …`, `returning …`). */
  readonly tail: string;
  /** Parameters before the tuple, in it, and after it. */
  readonly before: number;
  readonly width: number;
  /** All parameters of the one-row statement. */
  readonly total: number;
}

const shapes = new Map<string, InsertShape | null>();

/**
 * Finds the single `values (…)` tuple of an INSERT's SQL, outside quotes, with its parameter
 * counts; null for any other shape (then the batch runs row by row).
 */
export function insertShape(sqlText: string, parameterCount: number): InsertShape | null {
  const known = shapes.get(sqlText);
  if (known !== undefined) return known !== null && known.total !== parameterCount ? null : known;
  const shape = findShape(sqlText, parameterCount);
  // A few dozen batch texts exist; the bound only guards against a leak.
  if (shapes.size > 256) shapes.clear();
  shapes.set(sqlText, shape);
  return shape;
}

function findShape(sqlText: string, parameterCount: number): InsertShape | null {
  if (!/^\s*insert\s/i.test(sqlText)) return null;
  let quote: string | undefined;
  let depth = 0;
  let params = 0;
  let tupleStart = -1;
  let tupleEnd = -1;
  let before = 0;
  let width = 0;
  for (let i = 0; i < sqlText.length; i += 1) {
    const c = sqlText[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      quote = c;
      continue;
    }
    if (c === '?') params += 1;
    else if (c === '(') {
      if (depth === 0 && /\bvalues\s*$/i.test(sqlText.slice(Math.max(0, i - 8), i))) {
        // A second VALUES would make the shape ambiguous.
        if (tupleStart >= 0) return null;
        tupleStart = i;
        before = params;
      }
      depth += 1;
    } else if (c === ')') {
      depth -= 1;
      if (depth === 0 && tupleStart >= 0 && tupleEnd < 0) {
        tupleEnd = i + 1;
        width = params - before;
      }
    }
  }
  if (quote !== undefined || tupleStart < 0 || tupleEnd < 0 || params !== parameterCount || width === 0)
    return null;
  return {
    head: sqlText.slice(0, tupleStart),
    tuple: sqlText.slice(tupleStart, tupleEnd),
    tail: sqlText.slice(tupleEnd),
    before,
    width,
    total: params,
  };
}

/** The statement text for `rows` rows of this shape. */
function multiRowSql(shape: InsertShape, rows: number, cache: Map<number, string>): string {
  let text = cache.get(rows);
  if (text === undefined) {
    text = `${shape.head}${new Array<string>(rows).fill(shape.tuple).join(', ')}${shape.tail}`;
    cache.set(rows, text);
  }
  return text;
}

const texts = new WeakMap<InsertShape, Map<number, string>>();

/**
 * Runs the batch's statement over `rows`, inside the caller's transaction: INSERTs in chunks of
 * many rows (sizes are powers of two, so a batch of any length uses at most a few prepared
 * texts), anything else once per row.
 */
export function runBatchRows(
  statements: SqliteStatements,
  query: CompiledQuery,
  parameters: readonly unknown[],
  rows: readonly Readonly<Record<string, RowValue>>[],
): QueryResult<unknown> {
  const columns = parameters.map((p) => (p instanceof Slot && p.kind === 'column' ? p.name : undefined));
  const shape = insertShape(query.sql, parameters.length);
  const outside =
    shape !== null &&
    columns.some((name, i) => name !== undefined && (i < shape.before || i >= shape.before + shape.width));
  if (shape === null || outside || rows.length === 1)
    return runEachRow(statements, query.sql, columns, parameters, rows);

  const fixed = parameters.length - shape.width;
  const cap = Math.min(MAX_ROWS_PER_STATEMENT, Math.floor((SQLITE_MAX_VARIABLES - fixed) / shape.width));
  let cache = texts.get(shape);
  if (cache === undefined) {
    cache = new Map();
    texts.set(shape, cache);
  }
  const out: unknown[] = [];
  let affected = 0n;
  let done = 0;
  while (done < rows.length) {
    const count = largestPowerOfTwo(Math.min(cap, rows.length - done));
    const bound = new Array<unknown>(fixed + count * shape.width);
    let k = 0;
    for (let i = 0; i < shape.before; i += 1) bound[k++] = parameters[i];
    for (let r = done; r < done + count; r += 1) {
      const row = rows[r]!;
      for (let i = shape.before; i < shape.before + shape.width; i += 1) {
        const column = columns[i];
        bound[k++] = column === undefined ? parameters[i] : row[column];
      }
    }
    for (let i = shape.before + shape.width; i < parameters.length; i += 1) bound[k++] = parameters[i];
    const result = statements.execute(multiRowSql(shape, count, cache), bound);
    for (const r of result.rows) out.push(r);
    affected += result.numAffectedRows ?? 0n;
    done += count;
  }
  return { rows: out, numAffectedRows: affected };
}

function largestPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** The batch's statement once per row, synchronously, on the connection the transaction holds. */
function runEachRow(
  statements: SqliteStatements,
  sqlText: string,
  columns: readonly (string | undefined)[],
  parameters: readonly unknown[],
  rows: readonly Readonly<Record<string, RowValue>>[],
): QueryResult<unknown> {
  const bound = [...parameters];
  const out: unknown[] = [];
  let affected = 0n;
  for (const row of rows) {
    for (let i = 0; i < columns.length; i += 1) {
      const column = columns[i];
      if (column !== undefined) bound[i] = row[column];
    }
    const result = statements.execute(sqlText, bound);
    for (const r of result.rows) out.push(r);
    affected += result.numAffectedRows ?? 0n;
  }
  return { rows: out, numAffectedRows: affected };
}
