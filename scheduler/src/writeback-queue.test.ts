import type { WritebackRecord } from '@tendril/store';
import { describe, expect, it } from 'vitest';
import { byContention } from './writeback-worker.js';

const record = (id: string, command: string, connectionId: string, start?: string): WritebackRecord =>
  ({ id, command, connectionId, input: start === undefined ? {} : { start } }) as unknown as WritebackRecord;

describe('byContention', () => {
  it('queues bookings of one connection and day together, in claim order; everything else alone', () => {
    const claimed = [
      record('a', 'Appointment.book', 'emr', '2027-03-01T15:00:00Z'),
      record('b', 'Appointment.book', 'emr', '2027-03-02T15:00:00Z'),
      record('c', 'Appointment.reschedule', 'emr', '2027-03-01T16:00:00Z'),
      record('d', 'Appointment.book', 'other', '2027-03-01T15:00:00Z'),
      record('e', 'Patient.create', 'emr'),
      record('f', 'Appointment.cancel', 'emr', '2027-03-01T15:00:00Z'),
      record('g', 'Appointment.book', 'emr', '2027-03-01T17:00:00Z'),
    ];
    expect(byContention(claimed).map((queue) => queue.map((r) => r.id))).toEqual([
      ['a', 'c', 'g'],
      ['b'],
      ['d'],
      ['e'],
      ['f'],
    ]);
  });
});
