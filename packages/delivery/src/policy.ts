import { TendrilError } from '@tendril/core';
import {
  BACKOFF_FUNCTIONS,
  DEFAULT_DELIVERY_POLICY,
  DEFAULT_MAX_LIFETIME_SECONDS,
  MAX_DELAY_TARGET_SECONDS,
  MAX_NUM_RETRIES,
  type BackoffFunction,
  type DeliveryPolicy,
  type HealthyRetryPolicy,
} from './delivery-policy.js';
import { nominalRetryDelaysSeconds } from './schedule.js';

// The policy's shape and defaults live in delivery-policy.ts, so the retry schedule can use them
// without importing this parser (and the parser can use the schedule's curves).

export * from './delivery-policy.js';

/** The result of {@link parseDeliveryPolicy}: every problem at once, never a throw. */
export type ParseDeliveryPolicyResult =
  { ok: true; policy: DeliveryPolicy; warnings: string[] } | { ok: false; errors: string[] };

export interface ParseDeliveryPolicyOptions {
  /**
   * `strictPolicyValidation`: reject a policy whose nominal delays add up to more than the
   * lifetime instead of accepting it with a warning. Off by default because SNS accepts such policies.
   */
  strict?: boolean;
  /**
   * The delivery lifetime the nominal sum is compared with; 3600 s by default (docs/delivery.md, "Delivery
   * policy").
   */
  maxLifetimeSeconds?: number;
}

type RetryField = keyof HealthyRetryPolicy;
type IntegerRetryField = Exclude<RetryField, 'backoffFunction'>;

interface IntegerRule {
  readonly min: number;
  readonly max?: number;
  /**
   * Required inside an explicit `healthyRetryPolicy` object (docs/delivery.md, "Delivery policy",
   * Validation).
   */
  readonly requiredInSection: boolean;
}

/**
 * The integer fields as data, so the ranges are read in one place. The cross-field rules
 * (min ≤ max, phase counts ≤ numRetries) are applied after every field has been read.
 */
const INTEGER_RULES: Readonly<Record<IntegerRetryField, IntegerRule>> = {
  minDelayTarget: { min: 1, requiredInSection: true },
  maxDelayTarget: { min: 1, max: MAX_DELAY_TARGET_SECONDS, requiredInSection: true },
  numRetries: { min: 0, max: MAX_NUM_RETRIES, requiredInSection: true },
  numNoDelayRetries: { min: 0, requiredInSection: false },
  numMinDelayRetries: { min: 0, requiredInSection: false },
  numMaxDelayRetries: { min: 0, requiredInSection: false },
};

const RETRY_FIELDS = [
  'minDelayTarget',
  'maxDelayTarget',
  'numRetries',
  'numNoDelayRetries',
  'numMinDelayRetries',
  'numMaxDelayRetries',
  'backoffFunction',
] as const satisfies readonly RetryField[];

const SECTION_KEYS = ['healthyRetryPolicy', 'throttlePolicy', 'requestPolicy', 'sicklyRetryPolicy'] as const;
/** The flat (Healthjump seed) shape: the retry fields plus the two single-field sections at top level. */
const FLAT_KEYS = [...RETRY_FIELDS, 'maxReceivesPerSecond', 'headerContentType'] as const;

// RFC 9110 §8.3.1: type "/" subtype *( OWS ";" OWS parameter ), parameter value a token or quoted-string.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*"))*$`,
);

/**
 * Float noise allowance for the nominal sum: a policy whose exact sum is 3600 s can add up to
 * 3600.0000000000005 in floating point, and must not be warned about.
 */
const SUM_EPSILON_SECONDS = 1e-6;

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Collects errors while reading one object; `prefix` is how the object's fields are named in messages. */
class Reader {
  constructor(
    readonly errors: string[],
    private readonly source: Plain,
    private readonly prefix: string,
  ) {}

  path(field: string): string {
    return this.prefix === '' ? field : `${this.prefix}.${field}`;
  }

  has(field: string): boolean {
    return this.source[field] !== undefined;
  }

  value(field: string): unknown {
    return this.source[field];
  }

  integer(field: string, rule: { min: number; max?: number }, fallback: number): number | undefined {
    const value = this.source[field];
    if (value === undefined) return fallback;
    const path = this.path(field);
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.errors.push(
        `${path} must be an integer, not ${typeof value === 'number' && Number.isFinite(value) ? String(value) : describe(value)}`,
      );
      return undefined;
    }
    if (value < rule.min) {
      this.errors.push(`${path} must be greater than or equal to ${rule.min}`);
      return undefined;
    }
    if (rule.max !== undefined && value > rule.max) {
      this.errors.push(`${path} must be less than or equal to ${rule.max}`);
      return undefined;
    }
    return value;
  }

  unknownKeys(known: readonly string[], hint: string): void {
    for (const key of Object.keys(this.source)) {
      if (!known.includes(key)) {
        this.errors.push(
          `${this.path(key)} is not a delivery policy field; ${hint} (known: ${known.join(', ')})`,
        );
      }
    }
  }
}

function readRetryPolicy(reader: Reader, requireCore: boolean): HealthyRetryPolicy | undefined {
  const defaults = DEFAULT_DELIVERY_POLICY.healthyRetryPolicy;
  const ints = {} as Record<IntegerRetryField, number | undefined>;
  for (const field of Object.keys(INTEGER_RULES) as IntegerRetryField[]) {
    const rule = INTEGER_RULES[field];
    if (requireCore && rule.requiredInSection && !reader.has(field)) {
      reader.errors.push(`${reader.path(field)} is required when healthyRetryPolicy is present`);
      ints[field] = undefined;
      continue;
    }
    ints[field] = reader.integer(field, rule, defaults[field]);
  }

  let backoffFunction: BackoffFunction | undefined = defaults.backoffFunction;
  const rawBackoff = reader.value('backoffFunction');
  if (rawBackoff !== undefined) {
    const lower = typeof rawBackoff === 'string' ? rawBackoff.toLowerCase() : undefined;
    backoffFunction = BACKOFF_FUNCTIONS.find((name) => name === lower);
    if (backoffFunction === undefined) {
      reader.errors.push(`${reader.path('backoffFunction')} must be one of ${BACKOFF_FUNCTIONS.join(', ')}`);
    }
  }

  const {
    minDelayTarget,
    maxDelayTarget,
    numRetries,
    numNoDelayRetries,
    numMinDelayRetries,
    numMaxDelayRetries,
  } = ints;
  if (minDelayTarget !== undefined && maxDelayTarget !== undefined && minDelayTarget > maxDelayTarget) {
    reader.errors.push(
      `${reader.path('minDelayTarget')} must be less than or equal to ${reader.path('maxDelayTarget')} (${minDelayTarget} > ${maxDelayTarget})`,
    );
  }
  if (
    numRetries !== undefined &&
    numNoDelayRetries !== undefined &&
    numMinDelayRetries !== undefined &&
    numMaxDelayRetries !== undefined
  ) {
    const phases = numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries;
    if (phases > numRetries) {
      reader.errors.push(
        `${reader.path('numNoDelayRetries')} + ${reader.path('numMinDelayRetries')} + ${reader.path('numMaxDelayRetries')} ` +
          `must be less than or equal to ${reader.path('numRetries')} (${phases} > ${numRetries})`,
      );
    }
  }

  if (
    minDelayTarget === undefined ||
    maxDelayTarget === undefined ||
    numRetries === undefined ||
    numNoDelayRetries === undefined ||
    numMinDelayRetries === undefined ||
    numMaxDelayRetries === undefined ||
    backoffFunction === undefined
  ) {
    return undefined;
  }
  return {
    minDelayTarget,
    maxDelayTarget,
    numRetries,
    numNoDelayRetries,
    numMinDelayRetries,
    numMaxDelayRetries,
    backoffFunction,
  };
}

function readMaxReceivesPerSecond(reader: Reader): { ok: boolean; value?: number } {
  if (!reader.has('maxReceivesPerSecond')) return { ok: true };
  const value = reader.integer('maxReceivesPerSecond', { min: 1 }, Number.NaN);
  return value === undefined ? { ok: false } : { ok: true, value };
}

function readHeaderContentType(reader: Reader): string | undefined {
  const value = reader.value('headerContentType');
  if (value === undefined) return DEFAULT_DELIVERY_POLICY.requestPolicy.headerContentType;
  if (typeof value !== 'string' || !MEDIA_TYPE.test(value)) {
    reader.errors.push(`${reader.path('headerContentType')} must be a media type such as application/json`);
    return undefined;
  }
  return value;
}

function section(errors: string[], input: Plain, name: string): Plain | undefined {
  const value = input[name];
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    errors.push(`${name} must be an object, not ${describe(value)}`);
    return undefined;
  }
  return value;
}

function parseSnsShape(errors: string[], warnings: string[], input: Plain): DeliveryPolicy | undefined {
  const top = new Reader(errors, input, '');
  const misplaced = FLAT_KEYS.filter((key) => input[key] !== undefined);
  for (const key of misplaced) {
    const home =
      key === 'maxReceivesPerSecond'
        ? 'throttlePolicy'
        : key === 'headerContentType'
          ? 'requestPolicy'
          : 'healthyRetryPolicy';
    errors.push(
      `${key} belongs inside ${home} when the SNS shape (${home}: {...}) is used; do not mix the two shapes`,
    );
  }
  top.unknownKeys(
    [...SECTION_KEYS, ...misplaced],
    'use healthyRetryPolicy, throttlePolicy and requestPolicy',
  );
  if (input['sicklyRetryPolicy'] !== undefined && input['sicklyRetryPolicy'] !== null) {
    warnings.push('sicklyRetryPolicy is not used by Tendril and is ignored');
  }

  let retry: HealthyRetryPolicy | undefined = DEFAULT_DELIVERY_POLICY.healthyRetryPolicy;
  const healthy = section(errors, input, 'healthyRetryPolicy');
  if (healthy !== undefined) {
    const reader = new Reader(errors, healthy, 'healthyRetryPolicy');
    reader.unknownKeys(RETRY_FIELDS, 'check the spelling');
    retry = readRetryPolicy(reader, true);
  } else if (input['healthyRetryPolicy'] !== undefined) {
    retry = undefined;
  }

  let throttle: { ok: boolean; value?: number } = { ok: input['throttlePolicy'] === undefined };
  const throttleSection = section(errors, input, 'throttlePolicy');
  if (throttleSection !== undefined) {
    const reader = new Reader(errors, throttleSection, 'throttlePolicy');
    reader.unknownKeys(['maxReceivesPerSecond'], 'check the spelling');
    throttle = readMaxReceivesPerSecond(reader);
  }

  let contentType: string | undefined = DEFAULT_DELIVERY_POLICY.requestPolicy.headerContentType;
  const request = section(errors, input, 'requestPolicy');
  if (request !== undefined) {
    const reader = new Reader(errors, request, 'requestPolicy');
    reader.unknownKeys(['headerContentType'], 'check the spelling');
    contentType = readHeaderContentType(reader);
  } else if (input['requestPolicy'] !== undefined) {
    contentType = undefined;
  }

  if (retry === undefined || !throttle.ok || contentType === undefined) return undefined;
  return build(retry, throttle.value, contentType);
}

function parseFlatShape(errors: string[], input: Plain): DeliveryPolicy | undefined {
  const reader = new Reader(errors, input, '');
  reader.unknownKeys([...FLAT_KEYS], 'check the spelling, or use the SNS shape');
  const retry = readRetryPolicy(reader, false);
  const throttle = readMaxReceivesPerSecond(reader);
  const contentType = readHeaderContentType(reader);
  if (retry === undefined || !throttle.ok || contentType === undefined) return undefined;
  return build(retry, throttle.value, contentType);
}

function build(
  retry: HealthyRetryPolicy,
  maxReceivesPerSecond: number | undefined,
  headerContentType: string,
): DeliveryPolicy {
  return {
    healthyRetryPolicy: retry,
    throttlePolicy: maxReceivesPerSecond === undefined ? {} : { maxReceivesPerSecond },
    requestPolicy: { headerContentType },
  };
}

function formatSeconds(seconds: number): string {
  return String(Math.round(seconds * 10) / 10);
}

/**
 * Validate a subscription's (or the agent's default) delivery policy, in either the SNS shape
 * (`{ healthyRetryPolicy, throttlePolicy, requestPolicy }`) or the flat shape of the Healthjump
 * policy table (every field at top level), and normalise it to the SNS shape with defaults filled.
 *
 * Every problem is reported at once, each naming its field the way the caller wrote it
 * (`healthyRetryPolicy.minDelayTarget must be greater than or equal to 1`, or `minDelayTarget …` in the
 * flat shape), so an API client can fix everything in one round trip. A policy whose nominal delays
 * add up to more than the lifetime is accepted with a warning, because SNS accepts such policies and
 * the lifetime cap cuts them off at run time; `strict` turns that warning into an error.
 */
export function parseDeliveryPolicy(
  input: unknown,
  options: ParseDeliveryPolicyOptions = {},
): ParseDeliveryPolicyResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!isPlainObject(input)) {
    return { ok: false, errors: [`the delivery policy must be a JSON object, not ${describe(input)}`] };
  }
  const sns = SECTION_KEYS.some((key) => input[key] !== undefined);
  const policy = sns ? parseSnsShape(errors, warnings, input) : parseFlatShape(errors, input);
  if (policy === undefined || errors.length > 0) return { ok: false, errors };

  const lifetime = options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
  // Validated on the unrounded sum (docs/delivery.md, "Delivery policy"), so rounding to ms cannot flip the
  // verdict.
  const total = nominalRetryDelaysSeconds(policy.healthyRetryPolicy).reduce((sum, delay) => sum + delay, 0);
  if (total > lifetime + SUM_EPSILON_SECONDS) {
    const where = sns ? 'healthyRetryPolicy' : 'the retry policy';
    const message =
      `${where}: the nominal retry delays add up to ${formatSeconds(total)} s, more than the ${lifetime} s delivery lifetime; ` +
      'lower numRetries, maxDelayTarget or numMaxDelayRetries';
    if (options.strict === true) {
      return { ok: false, errors: [`${message} (strict policy validation is on)`] };
    }
    warnings.push(`${message}, or retries past the lifetime are dead-lettered instead of sent`);
  }
  return { ok: true, policy, warnings };
}

/**
 * Like {@link parseDeliveryPolicy} but throws `TENDRIL_E_DELIVERY_POLICY` listing every error, for
 * callers (config loading) that cannot continue with an invalid policy. Warnings are returned.
 */
export function assertDeliveryPolicy(
  input: unknown,
  options: ParseDeliveryPolicyOptions = {},
): { policy: DeliveryPolicy; warnings: string[] } {
  const result = parseDeliveryPolicy(input, options);
  if (!result.ok) {
    throw new TendrilError(
      'TENDRIL_E_DELIVERY_POLICY',
      `The delivery policy is invalid: ${result.errors.join('; ')}.`,
      {
        details: { errors: result.errors },
      },
    );
  }
  return { policy: result.policy, warnings: result.warnings };
}

/**
 * The policy that applies to one subscription: its own policy replaces the agent default as a whole
 * (no field-by-field merge, as in SNS), unless the agent sets `disableSubscriptionOverrides`.
 */
export function effectiveDeliveryPolicy(input: {
  agentDefault?: DeliveryPolicy;
  subscription?: DeliveryPolicy;
  disableSubscriptionOverrides?: boolean;
}): DeliveryPolicy {
  const agentDefault = input.agentDefault ?? DEFAULT_DELIVERY_POLICY;
  if (input.disableSubscriptionOverrides === true) return agentDefault;
  return input.subscription ?? agentDefault;
}
