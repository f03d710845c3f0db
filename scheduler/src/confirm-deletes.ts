import type { Row } from '@tendril/core';
import { lookupByKeysQuery } from '@tendril/sql';
import type { StreamState } from '@tendril/store';
import { commitMapped, mapRows, readSourceIds } from './stream-page.js';
import { keyOf, query, type StreamRun } from './stream-run.js';

/**
 * Delete candidates, confirmed before anything is emitted: a row is deleted only when a point
 * lookup by key finds nothing (docs/sync-semantics.md, "Classification"), and a run that would
 * delete too many rows at once emits none of them (docs/sync-semantics.md, "Nightly
 * reconciliation", the guard).
 */

/**
 * Point-looks-up delete candidates: rows still present are classified like any read row, rows
 * absent are confirmed deletes. With `dryRun` nothing is committed (the caller decides, behind
 * the guard). Returns the source ids confirmed absent.
 */
export async function confirmCandidates(
  run: StreamRun,
  sourceIds: readonly string[],
  seenAt: string,
  state: StreamState,
  dryRun = false,
): Promise<string[]> {
  if (sourceIds.length === 0) return [];
  const keys = sourceIds.map((id) => keyOf(run.table, id));
  const rows = (await query(() =>
    run.deps.sql.execute(lookupByKeysQuery(run.deps.sql, run.table, keys)),
  )) as Row[];
  const page = mapRows(run, rows, seenAt);
  const found = new Set(readSourceIds(page));
  const absent = sourceIds.filter((id) => !found.has(id));
  if (!dryRun) {
    run.counts.read += rows.length;
    await commitMapped(run, page, { confirmedAbsent: absent, state, seenAt });
  }
  return absent;
}

/** How a strategy confirms one page of stale candidates; returns the source ids confirmed absent. */
export type CandidateLookup = (sourceIds: readonly string[]) => Promise<string[]>;

export interface StaleDeleteOptions {
  /** Window polls: only shadow rows dated inside the window are candidates. */
  readonly window?: { readonly from: string; readonly until: string };
  /** Confirms a page of candidates. Default: a point lookup by key that commits nothing. */
  readonly lookUp?: CandidateLookup;
}

/**
 * After a full scan, live shadow rows the scan did not see are delete candidates. Each is
 * confirmed by a point lookup; if too many would be deleted at once (more than max(50, 20 % of
 * the live rows)), or the table read as empty, the guard emits nothing and records
 * `TENDRIL_E_RECONCILE_GUARD` (docs/sync-semantics.md, "Nightly reconciliation"; scenario 13).
 */
export async function confirmStaleDeletes(
  run: StreamRun,
  scanStartedAt: string,
  seenAt: string,
  options: StaleDeleteOptions = {},
): Promise<void> {
  const { store } = run.deps;
  const { connection, stream } = run.input;
  const { window } = options;
  const lookUp: CandidateLookup =
    options.lookUp ?? ((sourceIds) => confirmCandidates(run, sourceIds, seenAt, run.state, true));
  const live = await store.countLive(connection.id, stream);
  const limit = Math.max(50, Math.floor(live * 0.2));
  const confirmed: string[] = [];
  let afterSourceId: string | undefined;
  let tripped = false;
  // An emptied table is more likely a wrong database or lost rights than a mass delete (scenario 13).
  const scanReadNothing = run.tableRowsScanned === 0 && live > 0;
  for (;;) {
    const page = await store.staleLiveSourceIds(connection.id, stream, scanStartedAt, {
      ...(afterSourceId !== undefined ? { afterSourceId } : {}),
      limit: run.pageSize,
      ...(window ? { businessDate: window } : {}),
    });
    if (page.length === 0) break;
    afterSourceId = page[page.length - 1]!.sourceId;
    const absent = await lookUp(page.map((p) => p.sourceId));
    confirmed.push(...absent);
    if (
      !run.input.approveDeletes &&
      (confirmed.length > limit || (scanReadNothing && confirmed.length > 0))
    ) {
      tripped = true;
      break;
    }
    if (page.length < run.pageSize) break;
  }
  if (tripped) {
    run.guardTripped = true;
    run.log.warn(
      {
        stream,
        table: run.table.table,
        live,
        candidates: confirmed.length,
        event: 'reconciliation.guard_tripped',
      },
      'reconciliation guard tripped: too many deletes at once, nothing emitted',
    );
    run.state = {
      ...run.state,
      lastError: {
        code: 'TENDRIL_E_RECONCILE_GUARD',
        message: `stream ${stream}: ${confirmed.length}+ rows vanished at once (live ${live}); deletes held back. Check the database and permissions.`,
        at: seenAt,
      },
    };
    return;
  }
  if (run.input.approveDeletes && confirmed.length > 0) {
    run.log.warn(
      {
        stream,
        table: run.table.table,
        live,
        deletes: confirmed.length,
        event: 'reconciliation.guard_released',
      },
      'reconciliation guard released by the operator: emitting the confirmed deletes',
    );
  }
  for (let i = 0; i < confirmed.length; i += run.pageSize) {
    await commitMapped(
      run,
      { mapped: [], quarantined: [] },
      { confirmedAbsent: confirmed.slice(i, i + run.pageSize), state: run.state, seenAt },
    );
  }
}
