/**
 * The four SNS backoff curves (docs/delivery.md, "Delivery policy"). Input is matched case-insensitively; the
 * parsed policy always holds the lower-case name so the scheduler can switch on it exhaustively.
 */
export const BACKOFF_FUNCTIONS = ['arithmetic', 'exponential', 'geometric', 'linear'] as const;
export type BackoffFunction = (typeof BACKOFF_FUNCTIONS)[number];

/** Retry timing, in SNS's own field names and units (seconds, counts of retries). */
export interface HealthyRetryPolicy {
  readonly minDelayTarget: number;
  readonly maxDelayTarget: number;
  /** Retries only: an event gets at most 1 + numRetries requests. */
  readonly numRetries: number;
  readonly numNoDelayRetries: number;
  readonly numMinDelayRetries: number;
  readonly numMaxDelayRetries: number;
  readonly backoffFunction: BackoffFunction;
}

/**
 * A validated, normalised delivery policy, always in the SNS shape whichever shape came in.
 * `throttlePolicy.maxReceivesPerSecond` is absent when the subscription is unthrottled.
 */
export interface DeliveryPolicy {
  readonly healthyRetryPolicy: HealthyRetryPolicy;
  readonly throttlePolicy: { readonly maxReceivesPerSecond?: number };
  readonly requestPolicy: { readonly headerContentType: string };
}

/** The longest delay SNS allows, and the default delivery lifetime, in seconds. */
export const MAX_DELAY_TARGET_SECONDS = 3600;
/** SNS's ceiling on `numRetries`. */
export const MAX_NUM_RETRIES = 100;
/** The default delivery lifetime (`maxLifetimeSeconds`) in seconds. */
export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;

/**
 * SNS's defaults: 3 retries, 20 s apart, linear, unthrottled. Tendril's one deviation is the content
 * type: `application/json` because every payload is JSON (SNS defaults to `text/plain`).
 */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = Object.freeze({
  healthyRetryPolicy: Object.freeze({
    minDelayTarget: 20,
    maxDelayTarget: 20,
    numRetries: 3,
    numNoDelayRetries: 0,
    numMinDelayRetries: 0,
    numMaxDelayRetries: 0,
    backoffFunction: 'linear',
  } as const),
  throttlePolicy: Object.freeze({}),
  requestPolicy: Object.freeze({ headerContentType: 'application/json' }),
});
