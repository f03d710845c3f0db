/*
 * Custom elements: the rows of a configured nightly SQL script (`connections[].nightlyScripts`),
 * delivered as events of a named element next to the standard-model resources. They are not part
 * of the standard model (no schema, no shadow, no classification): each run's rows are emitted as
 * they are, one event per row, so a receiver gets the report the practice configured.
 */
import { DateTime } from 'luxon';
import { canonicalJson } from './canonical-json.js';
import {
  CUSTOM_ELEMENT_RESOURCE_TYPE,
  type CustomElementResourceType,
  type EventEnvelope,
  type StoredEvent,
} from './events.js';
import { escapeFlatField } from './formats/flat.js';
import { sha256Hex } from './hash.js';
import { EVENT_ID_NAMESPACE, resourceId, sourceIdOf, uuidV5 } from './ids.js';

/** A cell of a script's result, reduced to what every output format can carry. */
export type CustomElementValue = string | number | boolean | null;

/** The event type of a custom element row: `<element>.row` (filter with `recall_list.*`). */
export function customElementEventType(element: string): string {
  return `${element}.row`;
}

/**
 * `data` of a custom element event. `values` is keyed by column; `columns` keeps the SELECT's
 * order (the `flat` header). Rows may hold patient data: never log them.
 */
export interface CustomElementData {
  readonly resourceType: CustomElementResourceType;
  readonly element: string;
  /** The configured script's name. */
  readonly script: string;
  /** The connection's local date of the run (`YYYY-MM-DD`). */
  readonly runDate: string;
  /** Position of the row in the result (0-based); informational, not part of the identity. */
  readonly row: number;
  readonly columns: readonly string[];
  readonly values: Readonly<Record<string, CustomElementValue>>;
  readonly meta: { readonly syncedAt: string; readonly hash: string };
}

/** A custom element event before the store gives it a sequence (see `Store.appendCustomEvents`). */
export interface CustomElementEventDraft {
  /** Deterministic: see {@link customElementEvents}. */
  readonly id: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly resourceId: string;
  readonly sourceId: string;
  readonly data: CustomElementData;
}

/** The connection's local date (`YYYY-MM-DD`) of a run at `ranAt`: the day its rows belong to. */
export function customElementRunDate(ranAt: Date, timezone: string): string {
  return DateTime.fromJSDate(ranAt, { zone: timezone }).toISODate() ?? ranAt.toISOString().slice(0, 10);
}

/** One run of one nightly script, as `runNightlyScript` returns it. */
export interface CustomElementRun {
  readonly connectionId: string;
  readonly script: string;
  readonly element: string;
  /** When the script ran (agent clock, ISO instant): the events' `occurredAt`. */
  readonly ranAt: string;
  /** The connection's local date of the run (`YYYY-MM-DD`). */
  readonly runDate: string;
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, CustomElementValue>>[];
}

/**
 * One event per row of a script run. Ids are deterministic and independent of the sequence:
 * UUIDv5 (event namespace) of `[connectionId, "CustomElement", element, runDate, rowHash, n]`,
 * where `rowHash` is the SHA-256 of the row's canonical JSON (columns in order with their values)
 * and `n` counts earlier identical rows of the same result. So running the same script again on
 * the same day (a catch-up after a restart, `tendril run` started twice) yields the same ids and
 * the outbox keeps one event per row; a row whose content changed is a new event; the next night's
 * rows are new events. `sourceId` is `<element>:<runDate>:<rowHash prefix>:<n>`.
 */
export function customElementEvents(run: CustomElementRun): CustomElementEventDraft[] {
  const occurrences = new Map<string, number>();
  return run.rows.map((row, index) => {
    const values: Record<string, CustomElementValue> = {};
    for (const column of run.columns) values[column] = row[column] ?? null;
    const hash = sha256Hex(canonicalJson(run.columns.map((column) => [column, values[column]])));
    const n = occurrences.get(hash) ?? 0;
    occurrences.set(hash, n + 1);
    const sourceId = sourceIdOf([run.element, run.runDate, hash.slice(0, 16), n]);
    return {
      id: uuidV5(
        JSON.stringify([
          run.connectionId,
          CUSTOM_ELEMENT_RESOURCE_TYPE,
          run.element,
          run.runDate,
          hash,
          String(n),
        ]),
        EVENT_ID_NAMESPACE,
      ),
      type: customElementEventType(run.element),
      occurredAt: run.ranAt,
      resourceId: resourceId(run.connectionId, CUSTOM_ELEMENT_RESOURCE_TYPE, sourceId),
      sourceId,
      data: {
        resourceType: CUSTOM_ELEMENT_RESOURCE_TYPE,
        element: run.element,
        script: run.script,
        runDate: run.runDate,
        row: index,
        columns: [...run.columns],
        values,
        meta: { syncedAt: run.ranAt, hash },
      },
    };
  });
}

/**
 * The envelope of a draft once the store allocated its sequence (docs/standard-model.md, "Event envelope"
 * shape).
 */
export function customElementEnvelope(
  draft: CustomElementEventDraft,
  connectionId: string,
  sequence: number,
): EventEnvelope {
  return {
    id: draft.id,
    type: draft.type,
    occurredAt: draft.occurredAt,
    connectionId,
    resourceType: CUSTOM_ELEMENT_RESOURCE_TYPE,
    resourceId: draft.resourceId,
    sequence,
    data: draft.data as unknown as Record<string, unknown>,
  };
}

/** True for the events of nightly scripts (the formats render them by their own rules). */
export function isCustomElementEvent(event: StoredEvent): boolean {
  return event.envelope.resourceType === CUSTOM_ELEMENT_RESOURCE_TYPE;
}

function dataOf(event: StoredEvent): CustomElementData {
  return event.envelope.data as unknown as CustomElementData;
}

/** `flat` body of a custom element: the element named in the config, any string. */
export interface CustomElementFlatEvent {
  readonly element: string;
  readonly data: string;
}

function flatField(value: CustomElementValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'Y' : 'N';
  return String(value);
}

/**
 * `flat` (docs/standard-model.md, "Output formats"): `{ element, data: "<header>\n<row>" }`. The header is
 * exactly the script's columns in SELECT order (no `client_id`, no `event_type`: the practice chose the
 * columns, and a Healthjump receiver of a custom report expects those); fields are escaped by
 * rule 2, null is the empty field, booleans `Y`/`N`, numbers and texts as the database gave them.
 */
export function customElementFlat(event: StoredEvent): CustomElementFlatEvent {
  const data = dataOf(event);
  const header = data.columns.map(escapeFlatField).join('|');
  const line = data.columns.map((column) => escapeFlatField(flatField(data.values[column]))).join('|');
  return { element: data.element, data: `${header}\n${line}` };
}

/** Code system of the `Basic.code` naming a custom element. */
export const CUSTOM_ELEMENT_CODE_SYSTEM = 'urn:tendril:custom-element';

/** URL of the extension carrying one column of a custom element row. */
export function customElementColumnUrl(element: string, column: string): string {
  return `${CUSTOM_ELEMENT_CODE_SYSTEM}:${element}:${encodeURIComponent(column)}`;
}

function columnExtension(
  url: string,
  value: CustomElementValue | undefined,
): Record<string, unknown> | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return { url, valueBoolean: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) && Math.abs(value) <= 2_147_483_647
      ? { url, valueInteger: value }
      : { url, valueDecimal: value };
  }
  return value === '' ? undefined : { url, valueString: value };
}

/**
 * `fhir`: FHIR R4 has no resource for an arbitrary report row, so a custom element row is a
 * `Basic` resource: `code` = the element (system {@link CUSTOM_ELEMENT_CODE_SYSTEM}), `created` =
 * the run date, the vendor-independent key as `identifier`, and one extension per non-empty column
 * (`urn:tendril:custom-element:<element>:<column>`, valueString / valueInteger / valueDecimal /
 * valueBoolean). Null and empty cells are omitted (FHIR forbids empty values).
 */
export function customElementFhir(event: StoredEvent): Record<string, unknown> {
  const data = dataOf(event);
  const extension = data.columns
    .map((column) => columnExtension(customElementColumnUrl(data.element, column), data.values[column]))
    .filter((e): e is Record<string, unknown> => e !== undefined);
  return {
    resourceType: 'Basic',
    id: event.envelope.resourceId,
    meta: { lastUpdated: event.envelope.occurredAt },
    ...(extension.length > 0 ? { extension } : {}),
    identifier: [
      {
        system: `urn:tendril:${event.connectorId}:${event.envelope.connectionId}:${CUSTOM_ELEMENT_RESOURCE_TYPE}`,
        value: event.sourceId,
      },
    ],
    code: { coding: [{ system: CUSTOM_ELEMENT_CODE_SYSTEM, code: data.element }], text: data.element },
    created: data.runDate,
  };
}
