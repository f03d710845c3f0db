import { describe, expect, it } from 'vitest';
import { isTendrilError } from '@tendril/core';
import {
  assertDeliveryPolicy,
  DEFAULT_DELIVERY_POLICY,
  effectiveDeliveryPolicy,
  parseDeliveryPolicy,
  type DeliveryPolicy,
} from './policy.js';
import { retryDelaysMs } from './schedule.js';

function errorsOf(input: unknown, options?: { strict?: boolean }): string[] {
  const result = parseDeliveryPolicy(input, options);
  if (result.ok) throw new Error(`expected errors, got policy ${JSON.stringify(result.policy)}`);
  return result.errors;
}

function policyOf(
  input: unknown,
  options?: { strict?: boolean },
): { policy: DeliveryPolicy; warnings: string[] } {
  const result = parseDeliveryPolicy(input, options);
  if (!result.ok) throw new Error(`expected a policy, got ${result.errors.join(' | ')}`);
  return result;
}

const SNS_EXAMPLE = {
  healthyRetryPolicy: {
    minDelayTarget: 5,
    maxDelayTarget: 260,
    numRetries: 10,
    numNoDelayRetries: 0,
    numMinDelayRetries: 0,
    numMaxDelayRetries: 0,
    backoffFunction: 'exponential',
  },
  throttlePolicy: { maxReceivesPerSecond: 10 },
  requestPolicy: { headerContentType: 'application/json' },
};

describe('DEFAULT_DELIVERY_POLICY', () => {
  it('is the SNS default: 3 retries 20 s apart, linear, unthrottled, JSON', () => {
    expect(DEFAULT_DELIVERY_POLICY).toEqual({
      healthyRetryPolicy: {
        minDelayTarget: 20,
        maxDelayTarget: 20,
        numRetries: 3,
        numNoDelayRetries: 0,
        numMinDelayRetries: 0,
        numMaxDelayRetries: 0,
        backoffFunction: 'linear',
      },
      throttlePolicy: {},
      requestPolicy: { headerContentType: 'application/json' },
    });
    expect(Object.isFrozen(DEFAULT_DELIVERY_POLICY.healthyRetryPolicy)).toBe(true);
  });

  it('is what an empty policy parses to', () => {
    expect(parseDeliveryPolicy({})).toEqual({ ok: true, policy: DEFAULT_DELIVERY_POLICY, warnings: [] });
  });
});

describe('parseDeliveryPolicy — SNS shape', () => {
  it('accepts the docs/delivery.md, "Delivery policy" example unchanged', () => {
    expect(parseDeliveryPolicy(SNS_EXAMPLE)).toEqual({ ok: true, policy: SNS_EXAMPLE, warnings: [] });
  });

  it('fills optional retry fields and sections with defaults', () => {
    const { policy } = policyOf({
      healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 60, numRetries: 5 },
    });
    expect(policy).toEqual({
      healthyRetryPolicy: {
        minDelayTarget: 1,
        maxDelayTarget: 60,
        numRetries: 5,
        numNoDelayRetries: 0,
        numMinDelayRetries: 0,
        numMaxDelayRetries: 0,
        backoffFunction: 'linear',
      },
      throttlePolicy: {},
      requestPolicy: { headerContentType: 'application/json' },
    });
  });

  it('keeps the default retry policy when only the throttle is given', () => {
    const { policy } = policyOf({ throttlePolicy: { maxReceivesPerSecond: 3 } });
    expect(policy.healthyRetryPolicy).toEqual(DEFAULT_DELIVERY_POLICY.healthyRetryPolicy);
    expect(policy.throttlePolicy).toEqual({ maxReceivesPerSecond: 3 });
  });

  it('matches backoffFunction case-insensitively and stores it lower case', () => {
    for (const spelling of ['EXPONENTIAL', 'Exponential', 'eXpOnEnTiAl']) {
      const { policy } = policyOf({
        healthyRetryPolicy: {
          minDelayTarget: 1,
          maxDelayTarget: 2,
          numRetries: 1,
          backoffFunction: spelling,
        },
      });
      expect(policy.healthyRetryPolicy.backoffFunction).toBe('exponential');
    }
    expect(
      errorsOf({
        healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 2, numRetries: 1, backoffFunction: 'cubic' },
      }),
    ).toEqual([
      'healthyRetryPolicy.backoffFunction must be one of arithmetic, exponential, geometric, linear',
    ]);
  });

  it('requires minDelayTarget, maxDelayTarget and numRetries when healthyRetryPolicy is present', () => {
    expect(errorsOf({ healthyRetryPolicy: {} })).toEqual([
      'healthyRetryPolicy.minDelayTarget is required when healthyRetryPolicy is present',
      'healthyRetryPolicy.maxDelayTarget is required when healthyRetryPolicy is present',
      'healthyRetryPolicy.numRetries is required when healthyRetryPolicy is present',
    ]);
  });

  it('names the field in range errors, exactly as docs/delivery.md shows', () => {
    expect(
      errorsOf({ healthyRetryPolicy: { minDelayTarget: 0, maxDelayTarget: 20, numRetries: 3 } }),
    ).toEqual(['healthyRetryPolicy.minDelayTarget must be greater than or equal to 1']);
    expect(
      errorsOf({ healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 3601, numRetries: 3 } }),
    ).toEqual(['healthyRetryPolicy.maxDelayTarget must be less than or equal to 3600']);
    expect(
      errorsOf({ healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 20, numRetries: 101 } }),
    ).toEqual(['healthyRetryPolicy.numRetries must be less than or equal to 100']);
    expect(
      errorsOf({ healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 20, numRetries: -1 } }),
    ).toEqual(['healthyRetryPolicy.numRetries must be greater than or equal to 0']);
    expect(errorsOf({ throttlePolicy: { maxReceivesPerSecond: 0 } })).toEqual([
      'throttlePolicy.maxReceivesPerSecond must be greater than or equal to 1',
    ]);
  });

  it('accepts the range boundaries', () => {
    const bounds = [
      { minDelayTarget: 1, maxDelayTarget: 1, numRetries: 0 },
      { minDelayTarget: 3600, maxDelayTarget: 3600, numRetries: 1 },
      { minDelayTarget: 1, maxDelayTarget: 1, numRetries: 100 },
      {
        minDelayTarget: 1,
        maxDelayTarget: 1,
        numRetries: 3,
        numNoDelayRetries: 1,
        numMinDelayRetries: 1,
        numMaxDelayRetries: 1,
      },
    ];
    for (const healthyRetryPolicy of bounds) {
      expect(parseDeliveryPolicy({ healthyRetryPolicy }).ok, JSON.stringify(healthyRetryPolicy)).toBe(true);
    }
    expect(
      policyOf({ throttlePolicy: { maxReceivesPerSecond: 1 } }).policy.throttlePolicy.maxReceivesPerSecond,
    ).toBe(1);
  });

  it('requires integers', () => {
    expect(
      errorsOf({
        healthyRetryPolicy: {
          minDelayTarget: 1.5,
          maxDelayTarget: '20',
          numRetries: 3,
          numNoDelayRetries: null,
        },
        throttlePolicy: { maxReceivesPerSecond: 2.5 },
      }),
    ).toEqual([
      'healthyRetryPolicy.minDelayTarget must be an integer, not 1.5',
      'healthyRetryPolicy.maxDelayTarget must be an integer, not a string',
      'healthyRetryPolicy.numNoDelayRetries must be an integer, not null',
      'throttlePolicy.maxReceivesPerSecond must be an integer, not 2.5',
    ]);
  });

  it('rejects minDelayTarget above maxDelayTarget', () => {
    expect(
      errorsOf({ healthyRetryPolicy: { minDelayTarget: 30, maxDelayTarget: 20, numRetries: 3 } }),
    ).toEqual([
      'healthyRetryPolicy.minDelayTarget must be less than or equal to healthyRetryPolicy.maxDelayTarget (30 > 20)',
    ]);
  });

  it('rejects phase counts adding up to more than numRetries, but accepts exactly numRetries', () => {
    expect(
      errorsOf({
        healthyRetryPolicy: {
          minDelayTarget: 1,
          maxDelayTarget: 20,
          numRetries: 5,
          numNoDelayRetries: 2,
          numMinDelayRetries: 2,
          numMaxDelayRetries: 2,
        },
      }),
    ).toEqual([
      'healthyRetryPolicy.numNoDelayRetries + healthyRetryPolicy.numMinDelayRetries + healthyRetryPolicy.numMaxDelayRetries ' +
        'must be less than or equal to healthyRetryPolicy.numRetries (6 > 5)',
    ]);
    expect(
      parseDeliveryPolicy({
        healthyRetryPolicy: {
          minDelayTarget: 1,
          maxDelayTarget: 20,
          numRetries: 6,
          numNoDelayRetries: 2,
          numMinDelayRetries: 2,
          numMaxDelayRetries: 2,
        },
      }).ok,
    ).toBe(true);
    expect(
      errorsOf({
        healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 20, numRetries: 3, numMinDelayRetries: -1 },
      }),
    ).toEqual(['healthyRetryPolicy.numMinDelayRetries must be greater than or equal to 0']);
  });

  it('reports every error at once', () => {
    const errors = errorsOf({
      healthyRetryPolicy: {
        minDelayTarget: 0,
        maxDelayTarget: 4000,
        numRetries: 101,
        backoffFunction: 'cubic',
        minDelayTaget: 5,
      },
      throttlePolicy: { maxReceivesPerSecond: 0 },
      requestPolicy: { headerContentType: 'json' },
    });
    expect(errors).toEqual([
      expect.stringMatching(
        /^healthyRetryPolicy\.minDelayTaget is not a delivery policy field; check the spelling/,
      ),
      'healthyRetryPolicy.minDelayTarget must be greater than or equal to 1',
      'healthyRetryPolicy.maxDelayTarget must be less than or equal to 3600',
      'healthyRetryPolicy.numRetries must be less than or equal to 100',
      'healthyRetryPolicy.backoffFunction must be one of arithmetic, exponential, geometric, linear',
      'throttlePolicy.maxReceivesPerSecond must be greater than or equal to 1',
      'requestPolicy.headerContentType must be a media type such as application/json',
    ]);
  });

  it('rejects sections that are not objects and unknown top-level keys', () => {
    expect(errorsOf({ healthyRetryPolicy: [], throttlePolicy: null, requestPolicy: 'x', extra: 1 })).toEqual([
      expect.stringMatching(/^extra is not a delivery policy field/),
      'healthyRetryPolicy must be an object, not an array',
      'throttlePolicy must be an object, not null',
      'requestPolicy must be an object, not a string',
    ]);
  });

  it('rejects flat fields mixed into the SNS shape', () => {
    expect(
      errorsOf({
        healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 2, numRetries: 1 },
        numRetries: 4,
      }),
    ).toEqual([
      'numRetries belongs inside healthyRetryPolicy when the SNS shape (healthyRetryPolicy: {...}) is used; do not mix the two shapes',
    ]);
  });

  it('validates headerContentType as a media type', () => {
    for (const ok of [
      'text/plain',
      'application/json; charset=UTF-8',
      'application/fhir+json',
      'text/plain;a="b c"',
    ]) {
      expect(
        policyOf({ requestPolicy: { headerContentType: ok } }).policy.requestPolicy.headerContentType,
      ).toBe(ok);
    }
    for (const bad of ['json', 'application/', '/json', 'text/plain; charset', 'a b/c', 42]) {
      expect(errorsOf({ requestPolicy: { headerContentType: bad } })).toEqual([
        'requestPolicy.headerContentType must be a media type such as application/json',
      ]);
    }
  });

  it('warns about, but ignores, a non-null sicklyRetryPolicy', () => {
    expect(policyOf({ sicklyRetryPolicy: null }).warnings).toEqual([]);
    expect(policyOf({ sicklyRetryPolicy: { numRetries: 1 } }).warnings).toEqual([
      'sicklyRetryPolicy is not used by Tendril and is ignored',
    ]);
  });

  it('rejects anything that is not an object', () => {
    for (const input of [null, undefined, 'x', 5, []]) {
      expect(errorsOf(input)).toHaveLength(1);
    }
  });
});

describe('parseDeliveryPolicy — flat (Healthjump seed) shape', () => {
  it('reads every field from the top level into the SNS shape', () => {
    const { policy, warnings } = policyOf({
      minDelayTarget: 5,
      maxDelayTarget: 260,
      numRetries: 10,
      numNoDelayRetries: 1,
      numMinDelayRetries: 1,
      numMaxDelayRetries: 1,
      backoffFunction: 'Geometric',
      maxReceivesPerSecond: 4,
    });
    expect(warnings).toEqual([]);
    expect(policy).toEqual({
      healthyRetryPolicy: {
        minDelayTarget: 5,
        maxDelayTarget: 260,
        numRetries: 10,
        numNoDelayRetries: 1,
        numMinDelayRetries: 1,
        numMaxDelayRetries: 1,
        backoffFunction: 'geometric',
      },
      throttlePolicy: { maxReceivesPerSecond: 4 },
      requestPolicy: { headerContentType: 'application/json' },
    });
  });

  it('applies the seed table defaults to missing fields (nothing is required)', () => {
    expect(policyOf({ numRetries: 5 }).policy.healthyRetryPolicy).toEqual({
      ...DEFAULT_DELIVERY_POLICY.healthyRetryPolicy,
      numRetries: 5,
    });
    expect(policyOf({ maxReceivesPerSecond: 2 }).policy.throttlePolicy).toEqual({ maxReceivesPerSecond: 2 });
  });

  it('names top-level fields in errors, and reports all of them', () => {
    expect(
      errorsOf({
        minDelayTarget: 0,
        maxDelayTarget: 3601,
        numRetries: 2,
        numNoDelayRetries: 3,
        maxReceivesPerSecond: 0,
        bogus: true,
      }),
    ).toEqual([
      expect.stringMatching(
        /^bogus is not a delivery policy field; check the spelling, or use the SNS shape/,
      ),
      'minDelayTarget must be greater than or equal to 1',
      'maxDelayTarget must be less than or equal to 3600',
      'numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must be less than or equal to numRetries (3 > 2)',
      'maxReceivesPerSecond must be greater than or equal to 1',
    ]);
  });

  it('checks min ≤ max against the default when only one is given', () => {
    expect(errorsOf({ minDelayTarget: 30 })).toEqual([
      'minDelayTarget must be less than or equal to maxDelayTarget (30 > 20)',
    ]);
  });
});

describe('parseDeliveryPolicy — nominal sum against the 3600 s lifetime', () => {
  const overCap = {
    healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 2399, numRetries: 5, numNoDelayRetries: 1 },
  };

  it('accepts the over-the-cap vector with a warning naming the sum', () => {
    const { policy, warnings } = policyOf(overCap);
    expect(policy.healthyRetryPolicy.maxDelayTarget).toBe(2399);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('add up to 4800 s, more than the 3600 s delivery lifetime');
  });

  it('rejects it with strict validation', () => {
    const errors = errorsOf(overCap, { strict: true });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('add up to 4800 s');
    expect(errors[0]).toContain('strict policy validation is on');
  });

  it('does not warn at exactly 3600 s, and warns just above', () => {
    // 36 retries of 100 s = 3600 exactly; 1 retry more is 3700.
    expect(
      policyOf({ minDelayTarget: 100, maxDelayTarget: 100, numRetries: 36 }, { strict: true }).warnings,
    ).toEqual([]);
    expect(policyOf({ minDelayTarget: 100, maxDelayTarget: 100, numRetries: 37 }).warnings).toHaveLength(1);
  });

  it('validates on the unrounded sum, not the sum of delays rounded to the ms', () => {
    // Found by search: geometric 73…1459 over 7 retries sums to 3600.00067 s, yet its ms-rounded delays sum to 3 600 000 ms.
    const over = { minDelayTarget: 73, maxDelayTarget: 1459, numRetries: 7, backoffFunction: 'geometric' };
    const overResult = policyOf(over);
    expect(retryDelaysMs(overResult.policy).reduce((a, b) => a + b, 0)).toBe(3_600_000);
    expect(overResult.warnings).toHaveLength(1);
    expect(errorsOf(over, { strict: true })).toHaveLength(1);
    // And the reverse: 3599.9997 s unrounded, 3 600 001 ms rounded → accepted, even when strict.
    const under = policyOf(
      { minDelayTarget: 54, maxDelayTarget: 622, numRetries: 15, backoffFunction: 'geometric' },
      { strict: true },
    );
    expect(retryDelaysMs(under.policy).reduce((a, b) => a + b, 0)).toBe(3_600_001);
    expect(under.warnings).toEqual([]);
  });

  it('does not warn about float noise on an exact 3600 s sum', () => {
    // Arithmetic 6…589 over 17 retries is exactly 3600 s but adds up to 3600.0000000000005 in floating point.
    const retry = policyOf(
      { minDelayTarget: 6, maxDelayTarget: 589, numRetries: 17, backoffFunction: 'arithmetic' },
      { strict: true },
    );
    expect(retry.warnings).toEqual([]);
  });

  it('uses maxLifetimeSeconds when given', () => {
    const result = parseDeliveryPolicy({}, { maxLifetimeSeconds: 59 });
    expect(result.ok && result.warnings[0]).toContain('add up to 60 s, more than the 59 s delivery lifetime');
  });
});

describe('assertDeliveryPolicy', () => {
  it('throws TENDRIL_E_DELIVERY_POLICY listing every error', () => {
    try {
      assertDeliveryPolicy({ minDelayTarget: 0, numRetries: 101 });
      expect.unreachable();
    } catch (error) {
      expect(isTendrilError(error, 'TENDRIL_E_DELIVERY_POLICY')).toBe(true);
      expect((error as Error).message).toContain('minDelayTarget must be greater than or equal to 1');
      expect((error as Error).message).toContain('numRetries must be less than or equal to 100');
    }
  });
});

describe('effectiveDeliveryPolicy', () => {
  const agent = policyOf({ numRetries: 7 }).policy;
  const own = policyOf({ numRetries: 1 }).policy;

  it('lets a subscription policy replace the agent default as a whole', () => {
    expect(effectiveDeliveryPolicy({ agentDefault: agent, subscription: own })).toBe(own);
    expect(effectiveDeliveryPolicy({ agentDefault: agent })).toBe(agent);
    expect(effectiveDeliveryPolicy({})).toBe(DEFAULT_DELIVERY_POLICY);
  });

  it('ignores the subscription policy with disableSubscriptionOverrides', () => {
    expect(
      effectiveDeliveryPolicy({ agentDefault: agent, subscription: own, disableSubscriptionOverrides: true }),
    ).toBe(agent);
  });
});
