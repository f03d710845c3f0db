/**
 * Placeholders of compiled queries (prepared.ts) and the rows of batches, shared by the query layer
 * and the dialects.
 */

/** A parameter of a prepared query: compiled as a placeholder, given its value at each run. */
export class Slot {
  constructor(
    readonly name: string,
    /** `list`: a list of values bound as one parameter (the dialect encodes it); `column`: one column of a batch's rows. */
    readonly kind: 'value' | 'list' | 'column',
  ) {}
}

/** Column types of a batch's rows (the PostgreSQL array casts; SQLite binds each row's values). */
export const ROW_TYPES = {
  text: 'text',
  bigint: 'bigint',
  integer: 'integer',
  flag: 'boolean',
  json: 'json',
  jsonb: 'jsonb',
  instant: 'timestamptz',
} as const;
export type RowType = keyof typeof ROW_TYPES;
export type RowColumns = Readonly<Record<string, RowType>>;
export type RowValue = string | number | null;
export type BatchRow<C extends RowColumns> = { readonly [K in keyof C]: RowValue };
