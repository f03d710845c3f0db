import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../events.js';
import { RESOURCE_SCHEMAS } from '../model/index.js';
import { escapeFlatField, FLAT_COLUMNS, toFlatEvent, type FlatElement } from './flat.js';
import {
  appointmentRow,
  appointmentTable,
  chargeRow,
  chargeTable,
  CONNECTION_ID,
  deletedEvent,
  everyResourceEvent,
  liveEvent,
  patientRow,
  patientTable,
  procedureRow,
  procedureTable,
} from './sample-events.test-support.js';

// Copied verbatim from docs/standard-model.md, "Output formats" (and the Healthjump webhook example).
const DEMOGRAPHIC_HEADER =
  'client_id|client_patient_id|first_name|middle_name|last_name|prefix|suffix|ssn|dob|other_id|account_id|gender|race|ethnicity|primary_language|phone_number|phone_ext|phone_type|second_number|second_ext|second_type|first_email|second_email|death_indication|death_date|address_type|address_line_1|address_line_2|city|state|zip|pcp_id|event_type';

/** Headers of every element, version 1. A change here is a breaking change for receivers. */
const FROZEN_HEADERS: Record<FlatElement, string> = {
  demographic: DEMOGRAPHIC_HEADER,
  practice:
    'client_id|client_practice_id|practice_uuid|name|phone_number|email|address_line_1|address_line_2|city|state|zip|active|event_type',
  payer:
    'client_id|client_payer_id|payer_uuid|name|phone_number|email|address_line_1|address_line_2|city|state|zip|payer_electronic_id|active|event_type',
  location:
    'client_id|client_location_id|location_uuid|name|address_line_1|address_line_2|city|state|zip|phone_number|email|timezone|part_of_id|organization_id|status|bookable|event_type',
  operatory:
    'client_id|client_operatory_id|operatory_uuid|name|address_line_1|address_line_2|city|state|zip|phone_number|email|timezone|part_of_id|organization_id|status|bookable|event_type',
  provider:
    'client_id|client_provider_id|provider_uuid|first_name|middle_name|last_name|prefix|suffix|phone_number|email|npi|tin|active|specialty_code|specialty_system|is_hygienist|location_id|event_type',
  appointment:
    'client_id|client_appointment_id|appointment_uuid|status|source_status_code|source_status_system|start|end|minutes_duration|patient_id|practitioner_id|location_id|operatory_id|appointment_type_id|appointment_type_code|appointment_type_system|procedure_code|procedure_system|confirmed|confirmed_at|checked_in_at|checked_out_at|cancellation_reason|note|is_new_patient|created_at|event_type',
  appointment_type:
    'client_id|client_appointment_type_id|appointment_type_uuid|name|duration_minutes|coding_code|coding_system|active|event_type',
  encounter:
    'client_id|client_encounter_id|encounter_uuid|status|class_code|class_system|type_code|type_system|patient_id|practitioner_id|location_id|appointment_id|period_start|period_end|reason_code_code|reason_code_system|condition_id|event_type',
  diagnosis:
    'client_id|client_diagnosis_id|diagnosis_uuid|clinical_status|verification_status|category|code_code|code_system|patient_id|encounter_id|onset_date|abatement_date|recorded_date|event_type',
  procedure:
    'client_id|client_procedure_id|procedure_uuid|status|code_code|code_system|patient_id|encounter_id|appointment_id|practitioner_id|location_id|performed_date|tooth|surface|fee|event_type',
  charge:
    'client_id|client_charge_id|charge_uuid|status|code_code|code_system|patient_id|encounter_id|procedure_id|practitioner_id|location_id|occurrence_date|entered_date|quantity|unit_price|total_price|diagnosis_id|guarantor_id|event_type',
  insurance:
    'client_id|client_insurance_id|insurance_uuid|status|type|beneficiary_id|subscriber_id|subscriber_patient_id|relationship|order|period_start|period_end|payor_id|payor_name|group_number|group_name|plan_name|payer_electronic_id|event_type',
  payment:
    'client_id|client_payment_id|payment_uuid|status|payer_type|patient_id|guarantor_id|practitioner_id|location_id|date|entered_date|amount|source_type_code|source_type_system|event_type',
};

/** A receiver's parser: splits on unescaped `|` and undoes rule 2. */
function parseRow(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\') {
      const next = line[++i];
      current += next === 'n' ? '\n' : next === 'r' ? '\r' : next;
    } else if (ch === '|') {
      fields.push(current);
      current = '';
    } else current += ch;
  }
  fields.push(current);
  return fields;
}

/** The event's row as column → value. */
function rowOf(event: StoredEvent, options: Parameters<typeof toFlatEvent>[1] = {}): Record<string, string> {
  const { data } = toFlatEvent(event, options);
  const lines = data.split('\n');
  expect(lines).toHaveLength(2);
  const header = lines[0]!.split('|');
  const values = parseRow(lines[1]!);
  expect(values).toHaveLength(header.length);
  return Object.fromEntries(header.map((column, i) => [column, values[i]!]));
}

function withTelecom(event: StoredEvent, telecom: unknown[]): StoredEvent {
  const data = RESOURCE_SCHEMAS.Patient.parse({ ...event.envelope.data, telecom });
  return { ...event, envelope: { ...event.envelope, data } };
}

describe('flat format: headers', () => {
  it('demographic header is byte-identical to the Healthjump layout (33 columns)', () => {
    const { element, data } = toFlatEvent(liveEvent(patientTable, patientRow));
    expect(element).toBe('demographic');
    expect(data.split('\n')[0]).toBe(DEMOGRAPHIC_HEADER);
    expect(DEMOGRAPHIC_HEADER.split('|')).toHaveLength(33);
  });

  it('every element has its frozen header and follows rule 5 for its key columns', () => {
    expect(Object.keys(FLAT_COLUMNS).sort()).toEqual(Object.keys(FROZEN_HEADERS).sort());
    for (const [element, header] of Object.entries(FROZEN_HEADERS) as [FlatElement, string][]) {
      const columns = FLAT_COLUMNS[element];
      expect(columns.join('|')).toBe(header);
      expect(new Set(columns).size).toBe(columns.length);
      expect(columns.at(-1)).toBe('event_type');
      if (element !== 'demographic')
        expect(columns.slice(0, 3)).toEqual(['client_id', `client_${element}_id`, `${element}_uuid`]);
    }
  });

  it('produces one header and one row for every resource type, without a trailing newline', () => {
    const elements = new Set<string>();
    for (const event of everyResourceEvent()) {
      const { element, data } = toFlatEvent(event);
      elements.add(element);
      expect(data.endsWith('\n')).toBe(false);
      expect(data.split('\n')[0]).toBe(FROZEN_HEADERS[element]);
      expect(rowOf(event)['event_type']).toBe(event.kind === 'created' ? 'New' : 'Updated');
    }
    expect(elements).toEqual(new Set(Object.keys(FROZEN_HEADERS)));
  });
});

describe('flat format: demographic', () => {
  it('renders Ana Rivera exactly', () => {
    const { data } = toFlatEvent(liveEvent(patientTable, patientRow), { clientId: 'TEST01' });
    expect(data.split('\n')[1]).toBe(
      'TEST01|1042|Ana|Maria|Rivera|Ms.|Jr||1987-04-12|CH-1042|AC-77|F|2106-3|2186-5|en|+15555550142||M|+15555550100||H|ana.rivera@example.com|ana@work.example.com|N||home|12 Elm St|Apt 3|Springfield|IL|62704|7|New',
    );
  });

  it('client_id defaults to the connectionId', () => {
    expect(rowOf(liveEvent(patientTable, patientRow))['client_id']).toBe(CONNECTION_ID);
  });

  it('keeps the first two phones by rank, not by position', () => {
    const event = withTelecom(liveEvent(patientTable, patientRow), [
      { system: 'phone', value: '+15555550003', use: 'work', rank: 3 },
      { system: 'email', value: 'b@example.com', rank: 5 },
      { system: 'phone', value: '+15555550001', use: 'home', rank: 1, ext: '12' },
      { system: 'email', value: 'a@example.com', rank: 4 },
      { system: 'phone', value: '+15555550002', use: 'mobile', rank: 2 },
    ]);
    const row = rowOf(event);
    expect([row['phone_number'], row['phone_ext'], row['phone_type']]).toEqual(['+15555550001', '12', 'H']);
    expect([row['second_number'], row['second_ext'], row['second_type']]).toEqual(['+15555550002', '', 'M']);
    expect([row['first_email'], row['second_email']]).toEqual(['a@example.com', 'b@example.com']);
    expect(toFlatEvent(event).data).not.toContain('+15555550003');
  });

  it('fills ssn only with exportSsn', () => {
    const event = liveEvent(patientTable, patientRow);
    expect(rowOf(event)['ssn']).toBe('');
    expect(rowOf(event, { exportSsn: false })['ssn']).toBe('');
    expect(rowOf(event, { exportSsn: true })['ssn']).toBe('123-45-6789');
  });

  it('maps gender to M / F / O / U and leaves an unknown gender empty', () => {
    const gender = (code: number | null) =>
      rowOf(liveEvent(patientTable, { ...patientRow, Gender: code }))['gender'];
    expect([gender(0), gender(1), gender(3), gender(2), gender(null)]).toEqual(['M', 'F', 'O', 'U', '']);
  });

  it('marks death with Y and the date', () => {
    const row = rowOf(liveEvent(patientTable, { ...patientRow, DateOfDeath: '2024-12-31' }));
    expect([row['death_indication'], row['death_date']]).toEqual(['Y', '2024-12-31']);
  });
});

describe('flat format: rules', () => {
  it('escapes \\ then | then LF then CR', () => {
    expect(escapeFlatField('a\\b|c\nd\re')).toBe('a\\\\b\\|c\\nd\\re');
    expect(escapeFlatField('\\|')).toBe('\\\\\\|');
    expect(escapeFlatField('\\n')).toBe('\\\\n');
    expect(escapeFlatField('plain')).toBe('plain');
  });

  it('round-trips a value holding every special character through a row', () => {
    const event = liveEvent(appointmentTable, appointmentRow);
    const { data } = toFlatEvent(event);
    expect(data.split('\n')).toHaveLength(2);
    expect(data.split('\n')[1]).toContain('|C:\\\\notes\\|x\\r\\nline2|');
    expect(rowOf(event)['note']).toBe('C:\\notes|x\r\nline2');
  });

  it('puts source ids, never Tendril ids, in id columns', () => {
    const row = rowOf(liveEvent(appointmentTable, appointmentRow));
    expect(row).toMatchObject({
      client_appointment_id: '5001',
      patient_id: '1042',
      practitioner_id: '7',
      location_id: '1',
      operatory_id: 'op:3',
      appointment_type_id: '4',
    });
    expect(row['appointment_uuid']).toMatch(/^[0-9a-f-]{36}$/);
    const charge = rowOf(liveEvent(chargeTable, chargeRow));
    expect([
      charge['client_charge_id'],
      charge['procedure_id'],
      charge['diagnosis_id'],
      charge['guarantor_id'],
    ]).toEqual(['charge:9001', '9001', '88', '1040']);
  });

  it('writes money with two decimals, booleans as Y/N, instants in UTC and keeps the first array value', () => {
    const procedure = rowOf(liveEvent(procedureTable, procedureRow));
    expect(procedure['fee']).toBe('185.00');
    expect(procedure['surface']).toBe('M');
    const charge = rowOf(liveEvent(chargeTable, chargeRow));
    expect([charge['unit_price'], charge['total_price'], charge['quantity']]).toEqual([
      '92.50',
      '185.00',
      '2',
    ]);
    const appointment = rowOf(liveEvent(appointmentTable, appointmentRow));
    expect([appointment['confirmed'], appointment['is_new_patient']]).toEqual(['Y', 'N']);
    expect(appointment['start']).toBe('2025-01-20T14:00:00Z');
    expect(appointment['procedure_code']).toBe('D1110');
  });

  it('fills only the key columns of a Deleted row', () => {
    const patient = rowOf(deletedEvent('Patient', '1042'), { clientId: 'TEST01' });
    const filled = Object.entries(patient).filter(([, v]) => v !== '');
    expect(filled).toEqual([
      ['client_id', 'TEST01'],
      ['client_patient_id', '1042'],
      ['event_type', 'Deleted'],
    ]);
    const appointment = deletedEvent('Appointment', '5001');
    expect(Object.entries(rowOf(appointment)).filter(([, v]) => v !== '')).toEqual([
      ['client_id', CONNECTION_ID],
      ['client_appointment_id', '5001'],
      ['appointment_uuid', appointment.envelope.resourceId],
      ['event_type', 'Deleted'],
    ]);
  });
});
