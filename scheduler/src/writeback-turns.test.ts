import type { WritebackRecord } from '@tendril/store';
import { describe, expect, it } from 'vitest';
import { contentionKey, createTurns, type Turn } from './writeback-turns.js';

const record = (id: string, command: string, connectionId: string, start?: string): WritebackRecord =>
  ({ id, command, connectionId, input: start === undefined ? {} : { start } }) as unknown as WritebackRecord;

/** The names of the tickets whose turn has come, after pending promise callbacks ran. */
async function served(tickets: Record<string, Turn>): Promise<string[]> {
  const ready: string[] = [];
  for (const [name, turn] of Object.entries(tickets)) void turn.ready.then(() => ready.push(name));
  await new Promise((resolve) => setImmediate(resolve));
  return ready.sort();
}

describe('contentionKey', () => {
  it('gives bookings and reschedules of one connection and day one key; everything else none', () => {
    const key = (r: WritebackRecord) => contentionKey(r);
    const a = key(record('a', 'Appointment.book', 'emr', '2027-03-01T15:00:00Z'));
    expect(a).toBeDefined();
    expect(key(record('c', 'Appointment.reschedule', 'emr', '2027-03-01T16:00:00Z'))).toBe(a);
    expect(key(record('g', 'Appointment.book', 'emr', '2027-03-01T17:00:00Z'))).toBe(a);
    expect(key(record('b', 'Appointment.book', 'emr', '2027-03-02T15:00:00Z'))).not.toBe(a);
    expect(key(record('d', 'Appointment.book', 'other', '2027-03-01T15:00:00Z'))).not.toBe(a);
    expect(key(record('e', 'Patient.create', 'emr'))).toBeUndefined();
    expect(key(record('f', 'Appointment.cancel', 'emr', '2027-03-01T15:00:00Z'))).toBeUndefined();
  });
});

describe('turns', () => {
  it('serve one key’s tickets in the order they were taken, other keys side by side', async () => {
    const turns = createTurns();
    const tickets = {
      first: turns.take('day-1'),
      second: turns.take('day-1'),
      third: turns.take('day-1'),
      other: turns.take('day-2'),
    };
    expect(await served(tickets)).toEqual(['first', 'other']);
    tickets.first.release();
    expect(await served(tickets)).toEqual(['first', 'other', 'second']);
    tickets.second.release();
    expect(await served(tickets)).toEqual(['first', 'other', 'second', 'third']);
  });

  it('a ticket given back before its turn leaves the line without holding anyone up; release is idempotent', async () => {
    const turns = createTurns();
    const tickets = { first: turns.take('day'), second: turns.take('day'), third: turns.take('day') };
    tickets.second.release();
    tickets.second.release();
    expect(await served(tickets)).toEqual(['first']);
    tickets.first.release();
    tickets.first.release();
    expect(await served(tickets)).toEqual(['first', 'third']);
    tickets.third.release();
    // The line is empty again: a new ticket's turn comes at once.
    expect(await served({ fourth: turns.take('day') })).toEqual(['fourth']);
  });
});
