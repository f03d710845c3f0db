import type { EventEnvelope, StoredEvent } from '../events.js';
import { customElementFlat, isCustomElementEvent, type CustomElementFlatEvent } from '../custom-element.js';
import { toFhirEvent, type FhirEventEnvelope, type FhirOptions } from './fhir.js';
import { toFlatEvent, type FlatEvent, type FlatOptions } from './flat.js';
import { toJsonEvent } from './json.js';

export * from './fhir.js';
export * from './flat.js';
export * from './json.js';

/** The output formats a destination can ask for (docs/standard-model.md, "Output formats"). */
export const OUTPUT_FORMATS = ['json', 'fhir', 'flat'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Options for every format; each format reads only the ones it knows. */
export type FormatOptions = FhirOptions & FlatOptions;

/** What each format produces for one event. */
export interface FormattedEvents {
  json: EventEnvelope;
  fhir: FhirEventEnvelope;
  /** A custom element (nightly script row) names its own element: see custom-element.ts. */
  flat: FlatEvent | CustomElementFlatEvent;
}

export function isOutputFormat(value: string): value is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(value);
}

/**
 * Renders one stored event in a destination's format. The single entry point delivery uses, so a
 * new format is added here and the switch's `never` check points at every place that must learn it.
 */
export function formatEvent<F extends OutputFormat>(
  event: StoredEvent,
  format: F,
  options: FormatOptions = {},
): FormattedEvents[F] {
  const chosen: OutputFormat = format;
  switch (chosen) {
    case 'json':
      return toJsonEvent(event) as FormattedEvents[F];
    case 'fhir':
      return toFhirEvent(event, options) as FormattedEvents[F];
    case 'flat':
      return (
        isCustomElementEvent(event) ? customElementFlat(event) : toFlatEvent(event, options)
      ) as FormattedEvents[F];
    default:
      return chosen satisfies never;
  }
}
