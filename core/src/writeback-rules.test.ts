import { describe, expect, it } from 'vitest';
import { WritebackConnectionConfig } from './writeback-config.js';
import { absent, checkRules, maxItems, notNull, required, setting } from './writeback-rules.js';

const settings = (extra: Record<string, unknown> = {}) =>
  WritebackConnectionConfig.parse({ enabled: true, ...extra });

describe('writeback rules', () => {
  it('fails the first broken rule with validation_failed naming the field, and passes when all hold', () => {
    const rules = [
      absent('operatoryId', 'the EHR has no operatories; leave it out'),
      required('locationId', 'the EHR books at a facility'),
      maxItems('practitionerIds', 1, 'one provider per appointment'),
      notNull('primaryPractitionerId', 'give one'),
    ];
    expect(checkRules(rules, { operatoryId: 'x', practitionerIds: ['a', 'b'] }, settings())).toEqual({
      ok: false,
      code: 'validation_failed',
      message: 'operatoryId: the EHR has no operatories; leave it out',
      details: { field: 'operatoryId' },
    });
    expect(checkRules(rules, { practitionerIds: ['a'] }, settings())?.message).toBe(
      'locationId is required: the EHR books at a facility',
    );
    expect(checkRules(rules, { locationId: 'l', practitionerIds: ['a', 'b'] }, settings())?.details).toEqual({
      field: 'practitionerIds',
    });
    expect(checkRules(rules, { locationId: 'l', primaryPractitionerId: null }, settings())?.details).toEqual({
      field: 'primaryPractitionerId',
    });
    expect(checkRules(rules, { locationId: 'l', practitionerIds: ['a'] }, settings())).toBeUndefined();
  });

  it('checks a connection setting: required, whole-value pattern, one of, not one of', () => {
    const confirm = setting(
      'confirmStatus',
      { required: true, pattern: /[0-9]{1,3}/, notIn: ['100'] },
      'set it',
    );
    expect(checkRules([confirm], {}, settings())).toEqual({
      ok: false,
      code: 'validation_failed',
      message: 'set it',
    });
    expect(checkRules([confirm], {}, settings({ confirmStatus: '7x' }))?.message).toBe('set it');
    expect(checkRules([confirm], {}, settings({ confirmStatus: '100' }))?.message).toBe('set it');
    expect(checkRules([confirm], {}, settings({ confirmStatus: '7' }))).toBeUndefined();
    const cancel = setting('cancelStatus', { oneOf: ['x', '%'] }, 'not a cancel code');
    expect(checkRules([cancel], {}, settings())).toBeUndefined();
    expect(checkRules([cancel], {}, settings({ cancelStatus: '@' }))?.message).toBe('not a cancel code');
  });
});
