import { resourceId } from './ids.js';
import { rowSourceId } from './mapping.js';
import type { TableDefinition } from './sdk.js';
import { toIsoDate } from './time.js';
import type { MatchDeclaration } from './writeback-declare.js';
import type { WritebackInput } from './writeback-inputs.js';
import {
  matchText,
  phoneDigits,
  writebackFailure,
  type WritebackOutcome,
  type WritebackRow,
} from './writeback.js';

/**
 * Match before create (docs/writeback.md): a candidate is the same person when family name, first
 * given name and birth date agree (case-folded, trimmed), and a phone (digits only) or an e-mail
 * (case-folded) agrees. The phone and e-mail columns are those of the stream's `telecom` field.
 * Returns the outcome when the match decides the command, or undefined to go on and create.
 */
export function decideMatch(
  table: TableDefinition,
  declaration: MatchDeclaration,
  candidates: readonly WritebackRow[],
  input: WritebackInput<'Patient.create'>,
  connectionId: string,
): WritebackOutcome | undefined {
  const telecom = table.fields['telecom'];
  const contact =
    telecom?.kind === 'field' && telecom.shape?.kind === 'contactPoints' ? telecom.shape.columns : [];
  const phoneColumns = contact.filter((c) => c.system === 'phone' || c.system === 'sms').map((c) => c.column);
  const emailColumns = contact.filter((c) => c.system === 'email').map((c) => c.column);
  const family = matchText(input.name.family);
  const given = matchText(input.name.given[0]);
  const phones = new Set(
    input.telecom
      .filter((c) => c.system !== 'email')
      .map((c) => phoneDigits(c.value))
      .filter((d) => d.length >= 7),
  );
  const emails = new Set(input.telecom.filter((c) => c.system === 'email').map((c) => matchText(c.value)));
  const matches = candidates.filter(
    (row) =>
      matchText(row[declaration.family]) === family &&
      matchText(row[declaration.given]) === given &&
      toIsoDate(row[declaration.birthDate]) === input.birthDate &&
      (phoneColumns.some((c) => phones.has(phoneDigits(row[c]))) ||
        emailColumns.some((c) => matchText(row[c]) !== '' && emails.has(matchText(row[c])))),
  );
  if (matches.length > 1) {
    return writebackFailure(
      'patient_match_ambiguous',
      'more than one patient matches name, birth date and phone or e-mail',
      { candidateIds: matches.map((m) => resourceId(connectionId, 'Patient', rowSourceId(table, m))) },
    );
  }
  if (matches.length === 0) return undefined;
  if (input.matchPolicy === 'fail-if-exists')
    return writebackFailure(
      'patient_exists',
      'a patient with this name, birth date and phone or e-mail exists',
    );
  return { ok: true, sourceId: rowSourceId(table, matches[0]!), matched: true };
}
