import {
  applyTableOverrides,
  connectorForSite,
  mappingContext,
  TendrilError,
  type ConnectorDefinition,
  type TableDefinition,
  type TableOverride,
} from '@tendril/core';
import { streamsOf } from '@tendril/scheduler';
import { findLiveTable, readLiveSchema, type LiveSchema, type SqlClient } from '@tendril/sql';
import type { Cradle } from '../container.js';
import { previewMapping, type MappingPreview } from './preview.js';
import {
  assignColumns,
  keyProbe,
  rankColumns,
  rankTables,
  sampleLiveRows,
  SAMPLE_ROWS,
  type ColumnProposal,
  type TableCandidate,
} from './propose.js';
import { writeTableMapOverride } from './table-map-file.js';

/**
 * `tendril map`: install-time mapping of a connection's streams onto the live schema when the
 * vendor's tables or columns are named otherwise at this site (an undocumented or drifted schema).
 * Per stream: rank the live tables, then the live columns for every declared column, let the
 * engineer accept or change each choice, map a sample of real rows through the connector with
 * that choice, show a PHI-masked preview and the failure rate, and only then write the
 * `tableMap` override into the config, marked `verifiedAtInstall`.
 */

/** Who decides: a terminal session, or an answers file (scripts, tests). */
export interface MapChooser {
  /** The live table for the stream, or undefined to skip the stream. */
  table(
    stream: string,
    declared: TableDefinition,
    candidates: readonly TableCandidate[],
    proposed?: string,
  ): Promise<string | undefined>;
  /** The live column for a declared column. */
  column(stream: string, proposal: ColumnProposal, proposed?: string): Promise<string | undefined>;
  /** Whether to write the override, after the preview. */
  confirm(stream: string, preview: MappingPreview, override: TableOverride): Promise<boolean>;
}

export interface MapOptions {
  readonly configFile: string;
  readonly connection: string;
  readonly stream?: string;
  readonly chooser: MapChooser;
  /** Rows mapped for the preview (and sampled for value evidence). Default 200. */
  readonly sampleRows?: number;
  /** Above this share of failing rows the override is not written. Default 0.05. */
  readonly maxFailureRate?: number;
  /** Progress lines as decisions are made (the terminal session reads them). */
  readonly say?: (text: string) => void;
  readonly now?: () => Date;
}

export interface StreamMapResult {
  readonly stream: string;
  readonly table?: string;
  /** Declared column → the column chosen at this site. */
  readonly columns: Readonly<Record<string, string>>;
  readonly override?: TableOverride;
  readonly preview?: MappingPreview;
  readonly written: boolean;
  /** Why nothing was written (no table, a column without candidate, failures, declined). */
  readonly reason?: string;
}

export interface MapResult {
  readonly connection: string;
  readonly connector: string;
  readonly streams: readonly StreamMapResult[];
}

function percent(share: number | undefined): string {
  return share === undefined ? 'n/a' : `${Math.round(share * 100)}%`;
}

/** One line per candidate: `Surname 0.78 (name 0.56, maps 100%)`. */
export function describeCandidate(c: ColumnProposal['candidates'][number]): string {
  const evidence = c.check ? `, ${c.check === 'maps' ? 'maps' : c.check} ${percent(c.values)}` : '';
  return `${c.column} ${c.score.toFixed(2)} (name ${c.name.toFixed(2)}${evidence})`;
}

/** `name 30/30, birthDate 28/30, …`: how many mapped rows fill each field. */
export function describeFilled(preview: MappingPreview): string {
  const mapped = preview.sampleRows - preview.failedRows;
  const entries = Object.entries(preview.filled);
  return entries.length === 0 ? 'none' : entries.map(([field, n]) => `${field} ${n}/${mapped}`).join(', ');
}

function differs(a: string, b: string): boolean {
  return a.toLowerCase() !== b.toLowerCase();
}

async function mapStream(
  stream: string,
  declared: TableDefinition,
  ctx: {
    client: SqlClient;
    schema: LiveSchema;
    siteStreams: () => TableDefinition[];
    existing?: TableOverride;
    options: MapOptions;
    mapping: ReturnType<typeof mappingContext>;
  },
): Promise<StreamMapResult> {
  const { client, schema, options } = ctx;
  const say = options.say ?? (() => undefined);
  const candidates = rankTables(declared, schema);
  const proposedTable =
    ctx.existing?.table ??
    (findLiveTable(schema, declared.table)
      ? declared.table
      : candidates[0]?.score
        ? candidates[0].table
        : undefined);
  const chosenTable = await options.chooser.table(stream, declared, candidates.slice(0, 5), proposedTable);
  if (chosenTable === undefined) return { stream, columns: {}, written: false, reason: 'no table chosen' };
  const live = findLiveTable(schema, chosenTable);
  if (!live) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `table ${chosenTable} does not exist (or this login cannot see it)`,
      {
        details: { stream, table: chosenTable },
      },
    );
  }
  say(
    `stream ${stream} (${declared.resourceType}): table ${live.name}${differs(live.name, declared.table) ? ` (declared ${declared.table})` : ''}`,
  );
  const rows = await sampleLiveRows(client, live, declared.resourceType, options.sampleRows ?? SAMPLE_ROWS);
  const proposals = await rankColumns(declared, live, rows, ctx.mapping, keyProbe(client, ctx.siteStreams()));
  const fixed: Record<string, string> = {};
  for (const proposal of proposals) {
    const proposed = assignColumns(proposals, fixed)[proposal.declared];
    const choice = await options.chooser.column(stream, proposal, proposed);
    if (choice === undefined) continue;
    const column = live.columns.find((c) => !differs(c.name, choice));
    if (!column) {
      throw new TendrilError('TENDRIL_E_USAGE', `column ${choice} is not a column of ${live.name}`, {
        details: { stream, column: choice },
      });
    }
    fixed[proposal.declared] = column.name;
  }
  const missing = proposals.filter((p) => fixed[p.declared] === undefined).map((p) => p.declared);
  if (missing.length > 0) {
    return {
      stream,
      table: live.name,
      columns: fixed,
      written: false,
      reason: `no column of ${live.name} fits ${missing.join(', ')}`,
    };
  }
  const renamed = Object.fromEntries(Object.entries(fixed).filter(([d, site]) => differs(d, site)));
  const override: TableOverride = {
    ...(differs(live.name, declared.table) ? { table: live.name } : {}),
    ...(Object.keys(renamed).length > 0 ? { columns: renamed } : {}),
  };
  let preview: MappingPreview;
  try {
    preview = await previewMapping(client, declared, override, ctx.mapping, {
      sampleRows: options.sampleRows ?? SAMPLE_ROWS,
      syncedAt: (options.now ?? (() => new Date()))().toISOString(),
    });
  } catch (error) {
    const joined = (declared.joins ?? []).map((j) => j.table).join(', ');
    return {
      stream,
      table: live.name,
      columns: fixed,
      override,
      written: false,
      reason: `the preview query failed (${error instanceof TendrilError ? error.code : 'error'})${joined ? `; check the joined tables (${joined}): tableMap cannot rename them yet` : ''}`,
    };
  }
  const rate = preview.sampleRows === 0 ? 0 : preview.failedRows / preview.sampleRows;
  const confirmed = await options.chooser.confirm(stream, preview, override);
  const max = options.maxFailureRate ?? 0.05;
  if (!confirmed)
    return {
      stream,
      table: live.name,
      columns: fixed,
      override,
      preview,
      written: false,
      reason: 'not confirmed',
    };
  if (rate > max) {
    return {
      stream,
      table: live.name,
      columns: fixed,
      override,
      preview,
      written: false,
      reason: `${percent(rate)} of the sampled rows failed (more than ${percent(max)}); fix the choices and run tendril map again`,
    };
  }
  const written: TableOverride = {
    ...override,
    verifiedAtInstall: {
      at: (options.now ?? (() => new Date()))().toISOString(),
      by: 'tendril map',
      sampleRows: preview.sampleRows,
      failedRows: preview.failedRows,
    },
  };
  writeTableMapOverride(options.configFile, options.connection, stream, written);
  return { stream, table: live.name, columns: fixed, override: written, preview, written: true };
}

/** Runs the mapping for one connection (all its streams, or `options.stream`). */
export async function runMap(cradle: Cradle, options: MapOptions): Promise<MapResult> {
  const { config, connectors, sqlClients } = cradle;
  const connection = config.connections.find((c) => c.id === options.connection);
  if (!connection) {
    throw new TendrilError(
      'TENDRIL_E_USAGE',
      `--connection ${options.connection} is not in the config; configured: ${config.connections.map((c) => c.id).join(', ')}`,
    );
  }
  const connector = connectors.get(connection.connector) as ConnectorDefinition;
  const streams = streamsOf(connection, connector);
  if (options.stream && !streams.includes(options.stream)) {
    throw new TendrilError(
      'TENDRIL_E_STREAM_UNKNOWN',
      `--stream ${options.stream} is not a stream of connection ${connection.id}; streams: ${streams.join(', ')}`,
    );
  }
  const client = sqlClients.get(connection);
  const schema = await readLiveSchema(client);
  const mapping = mappingContext({
    connectionId: connection.id,
    connectorId: connector.id,
    timezone: connection.timezone,
    currency: connection.currency,
    options: connection.options,
  });
  // Choices of this session count for later streams' "keys that join" (patients before appointments).
  const session: Record<string, TableOverride> = { ...(connection.tableMap ?? {}) };
  const siteStreams = () => Object.values(connectorForSite(connector, session).streams);
  const results: StreamMapResult[] = [];
  for (const stream of options.stream ? [options.stream] : streams) {
    const declared = connector.streams[stream]!;
    const result = await mapStream(stream, declared, {
      client,
      schema,
      siteStreams,
      ...(connection.tableMap?.[stream] ? { existing: connection.tableMap[stream] } : {}),
      options,
      mapping,
    });
    if (result.override) {
      // Checked like config validation would; a choice the override cannot express is an error here.
      applyTableOverrides(declared, result.override);
      session[stream] = result.override;
    }
    results.push(result);
  }
  return { connection: connection.id, connector: connector.id, streams: results };
}

/** The result as the terminal shows it: choices, failure rate, the masked preview, what was written. */
export function renderMapResult(result: MapResult): string {
  const lines = [`connection ${result.connection} (connector ${result.connector})`];
  for (const s of result.streams) {
    lines.push(
      `  ${s.stream}: ${s.written ? 'WRITTEN to tableMap, verified at install' : `not written (${s.reason})`}`,
    );
    if (s.table) lines.push(`    table ${s.table}`);
    for (const [declared, site] of Object.entries(s.columns))
      if (differs(declared, site)) lines.push(`    ${declared} → ${site}`);
    if (s.preview) {
      const p = s.preview;
      lines.push(
        `    preview: ${p.sampleRows} rows mapped, ${p.failedRows} failed (${percent(p.sampleRows ? p.failedRows / p.sampleRows : 0)})`,
      );
      lines.push(`    fields filled: ${describeFilled(p)}`);
      for (const f of p.failures) lines.push(`      ${f.rows} × ${f.code}: ${f.message}`);
      for (const w of p.warnings) lines.push(`      ${w.rows} × ${w.code} on ${w.field}`);
      for (const example of p.examples) lines.push(`      ${JSON.stringify(example)}`);
    }
  }
  return lines.join('\n');
}
