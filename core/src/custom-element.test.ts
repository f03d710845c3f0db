import { describe, expect, it } from 'vitest';
import {
  customElementEnvelope,
  customElementEvents,
  customElementFhir,
  customElementRunDate,
  isCustomElementEvent,
  type CustomElementRun,
} from './custom-element.js';
import type { StoredEvent } from './events.js';
import { formatEvent } from './formats/index.js';
import { EVENT_ID_NAMESPACE, uuidV5 } from './ids.js';

const RUN: CustomElementRun = {
  connectionId: 'smile-dental-main',
  script: 'recall-list',
  element: 'recall_list',
  ranAt: '2025-01-21T07:00:00.000Z',
  runDate: '2025-01-21',
  columns: ['PatNum', 'Note', 'Due', 'Active', 'Balance'],
  rows: [
    { PatNum: '12', Note: 'a|b\\c\nd\re', Due: '2025-02-01', Active: true, Balance: 12.5 },
    { PatNum: '13', Note: null, Due: null, Active: false, Balance: 0 },
    { PatNum: '12', Note: 'a|b\\c\nd\re', Due: '2025-02-01', Active: true, Balance: 12.5 },
  ],
};

function stored(run: CustomElementRun, index: number, sequence = 1714000000000123): StoredEvent {
  const draft = customElementEvents(run)[index]!;
  return {
    envelope: customElementEnvelope(draft, run.connectionId, sequence),
    kind: 'created',
    sourceId: draft.sourceId,
    connectorId: 'open-dental',
    refs: {},
  };
}

describe('custom element events (nightly script rows)', () => {
  it('one event per row, type <element>.row, ids deterministic and independent of the sequence', () => {
    const drafts = customElementEvents(RUN);
    expect(drafts).toHaveLength(3);
    expect(drafts.map((d) => d.type)).toEqual(['recall_list.row', 'recall_list.row', 'recall_list.row']);
    expect(customElementEvents(RUN)).toEqual(drafts);
    // Identical rows are told apart by their occurrence, never merged.
    expect(new Set(drafts.map((d) => d.id)).size).toBe(3);
    const hash = drafts[0]!.data.meta.hash;
    expect(drafts[2]!.data.meta.hash).toBe(hash);
    expect(drafts[2]!.id).toBe(
      uuidV5(
        JSON.stringify(['smile-dental-main', 'CustomElement', 'recall_list', '2025-01-21', hash, '1']),
        EVENT_ID_NAMESPACE,
      ),
    );
    // The same row another day, or on another connection, is another event.
    expect(customElementEvents({ ...RUN, runDate: '2025-01-22' })[0]!.id).not.toBe(drafts[0]!.id);
    expect(customElementEvents({ ...RUN, connectionId: 'other' })[0]!.id).not.toBe(drafts[0]!.id);
    // A row's identity does not depend on its position in the result.
    expect(customElementEvents({ ...RUN, rows: [RUN.rows[1]!, RUN.rows[0]!] })[1]!.id).toBe(drafts[0]!.id);
    expect(stored(RUN, 0, 1).envelope.id).toBe(stored(RUN, 0, 2).envelope.id);
    expect(drafts[1]!.data).toMatchObject({
      element: 'recall_list',
      script: 'recall-list',
      runDate: '2025-01-21',
      row: 1,
    });
  });

  it('the run date is the local day of the connection, not the UTC day', () => {
    expect(customElementRunDate(new Date('2025-01-21T03:30:00Z'), 'America/New_York')).toBe('2025-01-20');
    expect(customElementRunDate(new Date('2025-01-21T05:30:00Z'), 'America/New_York')).toBe('2025-01-21');
  });

  it('json: the envelope as stored', () => {
    const event = stored(RUN, 0);
    expect(isCustomElementEvent(event)).toBe(true);
    expect(formatEvent(event, 'json')).toEqual({
      id: customElementEvents(RUN)[0]!.id,
      type: 'recall_list.row',
      occurredAt: '2025-01-21T07:00:00.000Z',
      connectionId: 'smile-dental-main',
      resourceType: 'CustomElement',
      resourceId: customElementEvents(RUN)[0]!.resourceId,
      sequence: 1714000000000123,
      data: customElementEvents(RUN)[0]!.data,
    });
  });

  it('flat: the element named in the config, the SELECT columns as header, fields escaped by rule 2', () => {
    expect(formatEvent(stored(RUN, 0), 'flat', { clientId: 'X' })).toEqual({
      element: 'recall_list',
      data: 'PatNum|Note|Due|Active|Balance\n12|a\\|b\\\\c\\nd\\re|2025-02-01|Y|12.5',
    });
    expect(formatEvent(stored(RUN, 1), 'flat')).toEqual({
      element: 'recall_list',
      data: 'PatNum|Note|Due|Active|Balance\n13|||N|0',
    });
    const odd = { ...RUN, columns: ['a|b'], rows: [{ 'a|b': 'x' }] };
    expect(formatEvent(stored(odd, 0), 'flat').data).toBe('a\\|b\nx');
  });

  it('fhir: a Basic resource naming the element, one extension per non-empty column', () => {
    const event = stored(RUN, 1);
    const resource = formatEvent(event, 'fhir').data;
    expect(resource).toEqual(customElementFhir(event));
    expect(resource).toEqual({
      resourceType: 'Basic',
      id: event.envelope.resourceId,
      meta: { lastUpdated: '2025-01-21T07:00:00.000Z' },
      extension: [
        { url: 'urn:tendril:custom-element:recall_list:PatNum', valueString: '13' },
        { url: 'urn:tendril:custom-element:recall_list:Active', valueBoolean: false },
        { url: 'urn:tendril:custom-element:recall_list:Balance', valueInteger: 0 },
      ],
      identifier: [
        { system: 'urn:tendril:open-dental:smile-dental-main:CustomElement', value: event.sourceId },
      ],
      code: { coding: [{ system: 'urn:tendril:custom-element', code: 'recall_list' }], text: 'recall_list' },
      created: '2025-01-21',
    });
  });
});
