import { dolphin } from '@tendril/connector-dolphin';
import { orthotrac } from '@tendril/connector-orthotrac';
import { describe, expect, it } from 'vitest';
import { PROVISIONAL_NOTE, provisionalOrthoConnector } from './index.js';

/*
 * One definition, two registrations: Dolphin and Orthotrac are the same provisional map with their
 * own id and name, and say nothing more than is known (no public schema, SQL Server presumed).
 */
describe('the provisional SQL Server ortho map', () => {
  it('is one definition: the two connectors differ in id and display name only', () => {
    const { id: _d, displayName: dolphinName, ...dolphinRest } = dolphin;
    const { id: _o, displayName: orthotracName, ...orthotracRest } = orthotrac;
    expect([dolphin.id, dolphinName, orthotrac.id, orthotracName]).toEqual([
      'dolphin',
      'Dolphin Management',
      'orthotrac',
      'Orthotrac',
    ]);
    expect(Object.keys(dolphinRest)).toEqual(Object.keys(orthotracRest));
    for (const [stream, table] of Object.entries(dolphin.streams))
      expect(orthotrac.streams[stream]).toBe(table);
    expect(orthotrac.optionsSchema.safeParse({}).success).toBe(true);
  });

  it('claims no verification: provisional, SQL Server only, version unknown', () => {
    for (const connector of [dolphin, orthotrac]) {
      expect(connector.verification).toEqual({ level: 'provisional', against: PROVISIONAL_NOTE });
      expect(connector.dialects).toEqual(['mssql']);
      expect(connector.versions).toEqual(['unknown']);
      for (const table of Object.values(connector.streams)) expect(table.evidence).toBeUndefined();
    }
    expect(PROVISIONAL_NOTE).toBe('no public schema: unverified — confirm with tendril discover');
  });

  it('refuses an id that is not kebab-case, like every connector', () => {
    expect(() => provisionalOrthoConnector({ id: 'Ortho_Site', displayName: 'x' })).toThrow(/kebab-case/);
  });
});
