import { describe, expect, it } from 'vitest';
import { contactColumns, primaryAddress, resolveSourceId, writebackFailure } from './writeback-helpers.js';
import type { WritebackContext } from './writeback.js';

const NAMES = { email: 'Email', home: 'HmPhone', work: 'WkPhone', mobile: 'WirelessPhone' } as const;

describe('writeback helpers', () => {
  it('lays contact points out in vendor columns, first of each kind winning', () => {
    expect(
      contactColumns(
        [
          { system: 'phone', value: '+15555550101', use: 'mobile' },
          { system: 'phone', value: '+15555550102', use: 'home' },
          { system: 'phone', value: '+15555550103' },
          { system: 'email', value: 'a@example.com' },
          { system: 'email', value: 'b@example.com' },
          { system: 'phone', value: '+15555550104', use: 'work' },
        ],
        NAMES,
      ),
    ).toEqual({
      WirelessPhone: '+15555550101',
      HmPhone: '+15555550102',
      Email: 'a@example.com',
      WkPhone: '+15555550104',
    });
  });

  it('keeps the home address, or one without a use, else the first', () => {
    const work = { use: 'work' as const, line: ['1 Work St'] };
    const home = { use: 'home' as const, line: ['2 Home St'] };
    expect(primaryAddress([work, home])).toBe(home);
    expect(primaryAddress([work])).toBe(work);
    expect(primaryAddress([])).toBeUndefined();
  });

  it('resolves framework ids to source keys, or fails not_found naming the field', async () => {
    const ctx = {
      sourceIdOf: async (_type: string, id: string) => (id === 'known' ? '42' : undefined),
    } as unknown as WritebackContext;
    expect(await resolveSourceId(ctx, 'Patient', 'known', 'patientId')).toBe('42');
    expect(await resolveSourceId(ctx, 'Patient', 'other', 'patientId')).toEqual(
      writebackFailure(
        'not_found',
        'patientId is not a known Patient of this connection (not yet polled, or deleted)',
        {
          field: 'patientId',
        },
      ),
    );
  });
});
