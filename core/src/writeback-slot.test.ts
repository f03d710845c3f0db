import { describe, expect, it } from 'vitest';
import { mappingContext } from './mapping.js';
import { defineTable } from './sdk.js';
import * as t from './transforms.js';
import type { SlotDeclaration } from './writeback-declare.js';
import { checkSlotTime, placeAppointment, slotConflict, type PlacedAppointment } from './writeback-slot.js';

const ZONE = 'America/Phoenix';
const NOW = new Date('2030-01-01T12:00:00Z');
const rules: SlotDeclaration = {
  stream: 'appointments',
  gridMinutes: 5,
  sameDay: true,
  operatory: true,
  practitioner: true,
  frees: ['cancelled', 'noshow'],
};
const placed = (over: Partial<PlacedAppointment>): PlacedAppointment => ({
  id: 'a1',
  start: '2030-01-02T16:00:00Z',
  end: '2030-01-02T17:00:00Z',
  status: 'booked',
  practitionerIds: ['dr-1'],
  operatoryId: 'op-1',
  excluded: false,
  ...over,
});
const candidate = {
  start: '2030-01-02T16:30:00Z',
  end: '2030-01-02T17:30:00Z',
  practitionerIds: ['dr-2'],
  operatoryId: 'op-2',
};

describe('the slot engine', () => {
  it('checks the time: future, grid, one office day; and gives the office wall time', () => {
    expect(checkSlotTime(rules, '2030-01-02T16:00:00Z', '2030-01-02T16:45:00Z', ZONE, NOW)).toEqual({
      start: { date: '2030-01-02', time: '09:00:00' },
      end: { date: '2030-01-02', time: '09:45:00' },
      seconds: 2700,
      minutes: 45,
    });
    const code = (start: string, end: string, r: SlotDeclaration = rules) => {
      const result = checkSlotTime(r, start, end, ZONE, NOW);
      return 'ok' in result ? [result.code, result.details?.['field']] : 'ok';
    };
    expect(code('2030-01-01T11:00:00Z', '2030-01-01T11:30:00Z')).toEqual(['validation_failed', 'start']);
    expect(code('2030-01-02T16:00:00Z', '2030-01-02T16:33:00Z')).toEqual(['validation_failed', 'end']);
    expect(code('2030-01-02T16:02:00Z', '2030-01-02T16:32:00Z')).toEqual(['validation_failed', 'start']);
    // 23:30 to 00:30 Phoenix time: two office days.
    expect(code('2030-01-03T06:30:00Z', '2030-01-03T07:30:00Z')).toEqual(['validation_failed', 'end']);
    expect(code('2030-01-03T06:30:00Z', '2030-01-03T07:30:00Z', { ...rules, sameDay: false })).toBe('ok');
    expect(code('2030-01-02T16:00:10Z', '2030-01-02T16:33:10Z', { ...rules, gridMinutes: undefined })).toBe(
      'ok',
    );
  });

  it('finds overlap in the same operatory, or for a shared practitioner unless double booking is allowed', () => {
    expect(slotConflict(rules, candidate, [placed({})], false)).toBeUndefined();
    expect(slotConflict(rules, { ...candidate, operatoryId: 'op-1' }, [placed({})], false)).toMatchObject({
      code: 'slot_conflict',
      message: 'the operatory already has an appointment overlapping this time',
    });
    const sharedDoctor = { ...candidate, practitionerIds: ['dr-9', 'dr-1'] };
    expect(slotConflict(rules, sharedDoctor, [placed({})], false)?.message).toBe(
      'the practitioner already has an appointment overlapping this time',
    );
    expect(slotConflict(rules, sharedDoctor, [placed({})], true)).toBeUndefined();
    expect(
      slotConflict({ ...rules, practitioner: false }, sharedDoctor, [placed({})], false),
    ).toBeUndefined();
    // Touching is not overlapping.
    const after = {
      ...candidate,
      operatoryId: 'op-1',
      start: '2030-01-02T17:00:00Z',
      end: '2030-01-02T17:30:00Z',
    };
    expect(slotConflict(rules, after, [placed({})], false)).toBeUndefined();
  });

  it('ignores freed slots, the appointment being moved, excluded rows (unless they block) and rows without a time; an unknown status blocks', () => {
    const same = { ...candidate, operatoryId: 'op-1' };
    expect(slotConflict(rules, same, [placed({ status: 'cancelled' })], false)).toBeUndefined();
    expect(slotConflict(rules, { ...same, excludeId: 'a1' }, [placed({})], false)).toBeUndefined();
    expect(slotConflict(rules, same, [placed({ excluded: true })], false)).toBeUndefined();
    expect(
      slotConflict({ ...rules, excludedRowsBlock: true }, same, [placed({ excluded: true })], false)?.code,
    ).toBe('slot_conflict');
    expect(slotConflict(rules, same, [placed({ end: undefined })], false)).toBeUndefined();
    const { status: _status, ...unknown } = placed({});
    expect(slotConflict(rules, same, [unknown], false)?.code).toBe('slot_conflict');
  });

  it('places a row by the stream mapping, field by field, so a dirty value leaves only that field unknown', () => {
    const table = defineTable({
      resourceType: 'Appointment',
      table: 'appt',
      key: ['id'],
      columns: { id: 'int', at: 'datetime', minutes: 'int', status: 'int', dr: 'int', op: 'int', pat: 'int' },
      cursor: { mode: 'snapshot' },
      excludeWhen: { pat: 0 },
      fields: {
        start: t.col('at', t.localInstant()),
        end: t.compute(['at', 'minutes'], ([at, minutes], ctx) => {
          const start = t.localInstant()(at, ctx) as string | undefined;
          if (start === undefined) return undefined;
          if (Number(minutes) < 0) throw new Error('negative length');
          return new Date(Date.parse(start) + Number(minutes) * 60_000).toISOString().replace('.000Z', 'Z');
        }),
        status: t.col('status', t.lookup({ 1: 'booked', 2: 'cancelled' })),
        practitionerIds: t.refs('Practitioner', ['dr']),
        operatoryId: t.ref('Location', 'op', { prefix: 'op' }),
        patientId: t.ref('Patient', 'pat'),
      },
    });
    const ctx = mappingContext({ connectionId: 'c1', connectorId: 'x', timezone: ZONE });
    const row = { id: 7, at: '2030-01-02 09:00:00', minutes: 30, status: 9, dr: 3, op: 4, pat: 0 };
    expect(placeAppointment(table, row, ctx)).toEqual({
      id: ctx.refId('Appointment', '7'),
      start: '2030-01-02T16:00:00Z',
      end: '2030-01-02T16:30:00Z',
      practitionerIds: [ctx.refId('Practitioner', '3')],
      operatoryId: ctx.refId('Location', 'op:4'),
      excluded: true,
    });
    expect(placeAppointment(table, { ...row, minutes: -5 }, ctx)).not.toHaveProperty('end');
  });
});
