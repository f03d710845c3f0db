import { describe, expect, it } from 'vitest';
import { resourceId } from './ids.js';
import { defineTable } from './sdk.js';
import * as t from './transforms.js';
import { decideMatch } from './writeback-match.js';

const patients = defineTable({
  resourceType: 'Patient',
  table: 'pat',
  key: ['id'],
  columns: {
    id: 'int',
    last: 'varchar(50)',
    first: 'varchar(50)',
    dob: 'datetime',
    cell: 'varchar(20)',
    mail: 'varchar(50)',
  },
  cursor: { mode: 'snapshot' },
  fields: {
    name: t.humanName({ family: 'last', given: ['first'] }),
    birthDate: t.col('dob', t.date()),
    telecom: t.contactPoints([
      { column: 'cell', system: 'phone', use: 'mobile' },
      { column: 'mail', system: 'email' },
    ]),
  },
});
const match = { stream: 'patients', family: 'last', given: 'first', birthDate: 'dob' };
const input = {
  name: { family: "O'Hara", given: ['Maeve'] },
  birthDate: '1988-04-12',
  gender: 'female' as const,
  telecom: [{ system: 'phone' as const, value: '+1 (602) 555-0142' }],
  addresses: [],
  matchPolicy: 'return-existing' as const,
};
const row = {
  id: 5,
  last: "o'hara ",
  first: 'MAEVE',
  dob: '1988-04-12 00:00:00.000',
  cell: '602.555.0142',
  mail: '',
};

describe('match before create', () => {
  it('matches on name, birth date and a phone or e-mail of the telecom columns', () => {
    expect(decideMatch(patients, match, [row], input, 'c1')).toEqual({
      ok: true,
      sourceId: '5',
      matched: true,
    });
    expect(decideMatch(patients, match, [{ ...row, cell: '602 555 0199' }], input, 'c1')).toBeUndefined();
    expect(decideMatch(patients, match, [{ ...row, dob: '1988-04-13' }], input, 'c1')).toBeUndefined();
    const byMail = { ...input, telecom: [{ system: 'email' as const, value: 'Maeve@Example.org' }] };
    expect(
      decideMatch(patients, match, [{ ...row, cell: '', mail: 'maeve@example.org' }], byMail, 'c1'),
    ).toMatchObject({
      matched: true,
    });
  });

  it('fails on two candidates, or on one with fail-if-exists', () => {
    expect(decideMatch(patients, match, [row, { ...row, id: 6 }], input, 'c1')).toEqual({
      ok: false,
      code: 'patient_match_ambiguous',
      message: 'more than one patient matches name, birth date and phone or e-mail',
      details: { candidateIds: [resourceId('c1', 'Patient', '5'), resourceId('c1', 'Patient', '6')] },
    });
    expect(
      decideMatch(patients, match, [row], { ...input, matchPolicy: 'fail-if-exists' }, 'c1'),
    ).toMatchObject({
      code: 'patient_exists',
    });
  });
});
