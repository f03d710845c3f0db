/**
 * What each stream's tables were checked against (`TableDefinition.evidence`, printed by
 * `tendril connectors`). Two levels of evidence exist for Dentrix Enterprise
 * (docs/connectors/dentrix-enterprise.md):
 * - the **replica DDL**: a dump of six Dentrix Enterprise 11.0 tables with exact column names,
 *   nullability and keys (`fixtures/dentrix-enterprise`); types inferred by the fixture's authors;
 * - **public queries**: reporting and integration SQL written against live Dentrix Enterprise
 *   databases names further tables and columns, without types, nullability or keys
 *   (`public-sql-columns.md` there). `tendril discover` at the site is what confirms them.
 */
export const EVIDENCE = {
  replica: 'replica DDL',
  replicaAssumedCode: 'replica DDL (RSCTYPE 3 for operatories is an assumption)',
  publicQueries: 'public queries — confirm with discover',
  replicaAndPublicQueries: 'replica DDL + public queries (DDB_DEF_TEXT) — confirm with discover',
  coverage:
    'replica DDL (DDB_PAT_BASE) + public queries (DDB_INSURED_BASE, DDB_INSURANCE_BASE) — confirm with discover',
} as const;
