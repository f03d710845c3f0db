import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openEmr } from '@tendril/connector-openemr';
import { ConnectionConfig, type StoredEvent } from '@tendril/core';
import { silentLogger, syncStream } from '@tendril/scheduler';
import { createSqlClient, type SqlClient } from '@tendril/sql';
import { openSqliteStore, type Store } from '@tendril/store';
import {
  createOpenEmrDatabase,
  officeDay,
  OPENEMR_TEST_ZONE,
  type OpenEmrDatabase,
} from './support/openemr.js';

/**
 * The `window` cursor (docs/sync-semantics.md, "Change-detection modes" ladder 4, §9 scenarios 6, 8, 13, 14, 16) on OpenEMR's
 * real calendar table in real MariaDB. The appointments stream reads `pc_eventDate` in
 * [today − 30, today + 90] (office zone) plus keys above the largest key seen.
 */
describe('sync conformance (window cursor) on OpenEMR appointments in real MariaDB', () => {
  let db: OpenEmrDatabase;
  let sql: SqlClient;
  let ehr: mysql.Connection;
  let store: Store;

  const poll = (options: { full?: boolean; pageSize?: number } = {}) =>
    syncStream(
      { sql, store, logger: silentLogger },
      {
        connection: ConnectionConfig.parse({
          id: 'window',
          connector: 'openemr',
          timezone: OPENEMR_TEST_ZONE,
          database: { url: db.url },
          sync: { settleSeconds: 0, overlapSeconds: 900, pageSize: options.pageSize ?? 1000 },
        }),
        connector: openEmr,
        stream: 'appointments',
        ...(options.full ? { full: true } : {}),
      },
    );

  async function insertAppointment(
    eid: number,
    dayOffset: number,
    fields: Record<string, unknown> = {},
  ): Promise<void> {
    const row = {
      pc_eid: eid,
      pc_catid: 9,
      pc_multiple: 0,
      pc_aid: '1',
      pc_pid: String(100 + eid),
      pc_eventDate: officeDay(dayOffset),
      pc_startTime: '09:00:00',
      pc_endTime: '09:30:00',
      pc_duration: 1800,
      pc_apptstatus: '-',
      pc_facility: 3,
      ...fields,
    };
    const columns = Object.keys(row);
    await ehr.query(
      `INSERT INTO openemr_postcalendar_events (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      Object.values(row),
    );
  }

  async function events(type?: string): Promise<StoredEvent[]> {
    const all = await store.listEvents({ connectionId: 'window', limit: 100_000 });
    return type ? all.filter((e) => e.envelope.type === type) : all;
  }
  const sourceIds = (list: StoredEvent[]) =>
    list.map((e) => e.sourceId).sort((a, b) => Number(a) - Number(b));

  beforeAll(async () => {
    db = await createOpenEmrDatabase('window');
    sql = createSqlClient({ url: db.url });
    ehr = await db.connect();
  });
  afterAll(async () => {
    await ehr?.end();
    await sql?.close();
    await db?.drop();
  });
  beforeEach(async () => {
    await ehr.query('DELETE FROM openemr_postcalendar_events');
    store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'tendril-window-')), 'store.db'));
    await store.migrate();
    // Inside the window: 1–4 (today −20 … +80); outside: 5 (−200) and 6 (+200). A provider
    // event without a patient (7) is not an appointment.
    await insertAppointment(1, -20);
    await insertAppointment(2, 0);
    await insertAppointment(3, 10);
    await insertAppointment(4, 80);
    await insertAppointment(5, -200);
    await insertAppointment(6, 200);
    await insertAppointment(7, 1, { pc_pid: '', pc_catid: 8 });
  });

  it('backloads the whole table once, then re-reads only the window and new keys', async () => {
    const first = await poll();
    expect(first.kind).toBe('backload');
    expect(first.read).toBe(7);
    expect(first.created).toBe(6);
    expect(sourceIds(await events('appointment.created'))).toEqual(['1', '2', '3', '4', '5', '6']);

    const second = await poll();
    expect(second.kind).toBe('poll');
    // The window holds 1–4 and the provider event 7; 5 and 6 lie outside and are not re-read.
    expect(second.read).toBe(5);
    expect(second.created + second.updated + second.deleted).toBe(0);
    // 1–4 unchanged, and the provider event classifies as "absent, never emitted" (also unchanged).
    expect(second.unchanged).toBe(5);
  });

  it('8. sees a status-only change inside the window at the next poll (no stamp needed)', async () => {
    await poll();
    await ehr.query("UPDATE openemr_postcalendar_events SET pc_apptstatus = 'x' WHERE pc_eid = 3");
    const result = await poll();
    expect(result.updated).toBe(1);
    const [update] = await events('appointment.updated');
    expect(update!.sourceId).toBe('3');
    expect(update!.envelope.data['status']).toBe('cancelled');
  });

  it('6. a hard delete inside the window is deleted at the next poll, confirmed by lookup', async () => {
    await poll();
    await ehr.query('DELETE FROM openemr_postcalendar_events WHERE pc_eid = 2');
    const result = await poll();
    expect(result.deleted).toBe(1);
    expect(sourceIds(await events('appointment.deleted'))).toEqual(['2']);
    expect((await poll()).deleted).toBe(0);
  });

  it('16. a row moved outside the window is found by the lookup: updated, never deleted', async () => {
    await poll();
    await ehr.query('UPDATE openemr_postcalendar_events SET pc_eventDate = ? WHERE pc_eid = 3', [
      officeDay(150),
    ]);
    const moved = await poll();
    expect(moved.deleted).toBe(0);
    expect(moved.updated).toBe(1);
    expect(await events('appointment.deleted')).toHaveLength(0);
    const [update] = await events('appointment.updated');
    expect(update!.sourceId).toBe('3');
    expect(String(update!.envelope.data['start']).slice(0, 10)).toBe(officeDay(150));
    // Its new date is in the shadow: the next poll neither reads nor looks it up.
    const after = await poll();
    expect(after.read).toBe(4);
    expect(after.created + after.updated + after.deleted).toBe(0);
  });

  it('reads a new appointment booked outside the window through its new key', async () => {
    await poll();
    await insertAppointment(20, 300);
    await insertAppointment(21, -300);
    const result = await poll();
    expect(result.created).toBe(2);
    expect(sourceIds(await events('appointment.created')).slice(-2)).toEqual(['20', '21']);
  });

  it('14. delete then re-insert of the same key: deleted, then created', async () => {
    await poll();
    await ehr.query('DELETE FROM openemr_postcalendar_events WHERE pc_eid = 4');
    expect((await poll()).deleted).toBe(1);
    await insertAppointment(4, 5);
    const back = await poll();
    expect(back.created).toBe(1);
  });

  it('pages by key with a small page size and keeps the same results', async () => {
    const first = await poll({ pageSize: 2 });
    expect(first.created).toBe(6);
    await ehr.query('DELETE FROM openemr_postcalendar_events WHERE pc_eid IN (1, 4)');
    const second = await poll({ pageSize: 2 });
    expect(second.deleted).toBe(2);
    expect(second.read).toBe(3);
  });

  it('13. an emptied table trips the guard instead of deleting', async () => {
    await poll();
    await ehr.query('DELETE FROM openemr_postcalendar_events');
    const result = await poll();
    expect(result.deleted).toBe(0);
    expect(result.guardTripped).toBe(true);
    expect(await events('appointment.deleted')).toHaveLength(0);
  });

  it('a backload (full) confirms deletes outside the window too', async () => {
    await poll();
    await ehr.query('DELETE FROM openemr_postcalendar_events WHERE pc_eid = 5');
    expect((await poll()).deleted).toBe(0); // outside the window: a poll cannot see it
    const full = await poll({ full: true });
    expect(full.deleted).toBe(1);
    expect(sourceIds(await events('appointment.deleted'))).toEqual(['5']);
  });
});
