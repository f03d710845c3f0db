import { t, type Coding, type FieldSpec, type JoinSpec, type MappingContext } from '@tendril/core';

/**
 * `DDB_DEF_TEXT`, the definitions table (public queries: `DEFID`, `TYPE`, `DESCRIPTION`; types
 * inferred, see `fixtures/public-query-tables.mariadb.sql`). One LEFT JOIN per list a patient
 * column points into, each picking its list with a constant `TYPE`, so each stays to-one.
 */
export function definitionJoin(alias: string, ownerColumn: string, type: number): JoinSpec {
  return {
    table: 'DDB_DEF_TEXT',
    alias,
    on: { DEFID: ownerColumn },
    onValues: { TYPE: type },
    key: ['DEFID', 'TYPE'],
    columns: { DEFID: 'int', TYPE: 'int', DESCRIPTION: 'varchar(255)' },
  };
}

/**
 * The code a patient column holds, as a site Coding (`urn:tendril:dentrix-enterprise:<connection>:<lookup>`:
 * definitions are per database) with the definition's description as `display`. 0 is "none" (A).
 */
function definitionCoding(
  lookup: string,
  code: unknown,
  description: unknown,
  ctx: MappingContext,
): Coding | undefined {
  const value = t.nullIf(0)(code, ctx);
  const coding = value === undefined ? undefined : (t.siteCoding(lookup)(value, ctx) as Coding | undefined);
  if (coding === undefined) return undefined;
  const display = t.str()(description, ctx) as string | undefined;
  return display ? { ...coding, display } : coding;
}

/** A field holding the definition as one Coding (`language`). */
export function definitionField(lookup: string, ownerColumn: string, alias: string): FieldSpec {
  return t.compute([ownerColumn, `${alias}.DESCRIPTION`], ([code, description], ctx) =>
    definitionCoding(lookup, code, description, ctx),
  );
}

/** A field holding the definition as a one-element list of Codings (`race`, `ethnicity`). */
export function definitionListField(lookup: string, ownerColumn: string, alias: string): FieldSpec {
  return t.compute([ownerColumn, `${alias}.DESCRIPTION`], ([code, description], ctx) => {
    const coding = definitionCoding(lookup, code, description, ctx);
    return coding ? [coding] : undefined;
  });
}
