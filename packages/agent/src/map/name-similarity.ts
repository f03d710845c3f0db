/**
 * How alike two schema names are, from 0 to 1, for `tendril map`'s ranking. Names are split into
 * words (camelCase, snake_case, digits), each word is reduced to a canonical form through a small
 * table of the abbreviations practice-management schemas use (`Pat`, `Pt` → patient; `DOB` →
 * birth date; `Hm`, `Wk`, `Cell`…), and the word sets are compared; the plain spelling is compared
 * too (character bigrams), and the better of the two counts.
 */

/** Each group's first word is the canonical form of the others. */
const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  ['patient', 'pat', 'pt', 'client'],
  ['last', 'family', 'surname', 'lname'],
  ['first', 'given', 'forename', 'fname'],
  ['middle', 'mname', 'mi', 'middlei'],
  ['birth', 'dob', 'born', 'birthdate'],
  ['date', 'dt', 'day'],
  ['phone', 'ph', 'tel', 'telephone', 'phn'],
  ['mobile', 'cell', 'wireless', 'cellular'],
  ['home', 'hm', 'residence'],
  ['work', 'wk', 'biz', 'business', 'office'],
  ['email', 'mail'],
  ['zip', 'postal', 'postcode', 'zipcode', 'post'],
  ['address', 'addr', 'street', 'line'],
  ['modified', 'mod', 'updated', 'changed', 'edit', 'edited', 'stamp', 'timestamp'],
  ['id', 'num', 'no', 'nbr', 'number', 'key', 'code'],
  ['provider', 'prov', 'doctor', 'dr', 'dentist', 'practitioner', 'staff'],
  ['appointment', 'appt', 'apt', 'visit', 'booking'],
  ['chart', 'mrn', 'record'],
  ['state', 'st', 'province'],
  ['city', 'town'],
  ['start', 'begin', 'from'],
  ['end', 'stop', 'until', 'to'],
  ['duration', 'length', 'len', 'minutes', 'mins'],
  ['status', 'stat', 'state_code'],
  ['note', 'notes', 'comment', 'comments', 'memo'],
  ['inactive', 'disabled', 'hidden'],
  ['office', 'clinic', 'location', 'site'],
  ['type', 'kind', 'category'],
  ['name', 'nm', 'title', 'descript', 'description'],
  ['sex', 'gender'],
  ['preferred', 'nickname', 'pref'],
  ['insurance', 'ins', 'coverage', 'plan'],
  ['carrier', 'payer', 'payor', 'company'],
  ['subscriber', 'insured', 'member', 'policy'],
  ['group', 'grp'],
];

const CANONICAL = new Map<string, string>();
for (const group of SYNONYM_GROUPS)
  for (const word of group) if (!CANONICAL.has(word)) CANONICAL.set(word, group[0]!);

/** Words of a name: `PatientId` → patient, id; `dob_year` → birth, year; `tblAppt` → appointment. */
export function nameWords(name: string): string[] {
  const words = name
    .replace(/^(tbl|tb|t_|vw_|v_|dbo\.)/i, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])/)
    .map((w) => w.toLowerCase())
    .filter((w) => w !== '');
  return words.map((w) => CANONICAL.get(w) ?? CANONICAL.get(w.replace(/s$/, '')) ?? w.replace(/s$/, ''));
}

function bigrams(text: string): string[] {
  const clean = text.toLowerCase().replace(/[^a-z0-9]/g, '');
  const out: string[] = [];
  for (let i = 0; i < clean.length - 1; i++) out.push(clean.slice(i, i + 2));
  return out;
}

/** Sørensen–Dice over two lists (multisets). */
function dice(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const x of a) counts.set(x, (counts.get(x) ?? 0) + 1);
  let shared = 0;
  for (const y of b) {
    const n = counts.get(y) ?? 0;
    if (n > 0) {
      shared += 1;
      counts.set(y, n - 1);
    }
  }
  return (2 * shared) / (a.length + b.length);
}

/** 1 for the same name (case aside), else the better of word overlap and spelling overlap. */
export function nameSimilarity(a: string, b: string): number {
  if (a.toLowerCase() === b.toLowerCase()) return 1;
  const words = dice([...new Set(nameWords(a))], [...new Set(nameWords(b))]);
  return Math.min(0.99, Math.max(words, dice(bigrams(a), bigrams(b))));
}
