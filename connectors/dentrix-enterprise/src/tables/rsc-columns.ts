import { cellText, type ColumnDeclarations } from '@tendril/core';

/**
 * The `DDB_RSC_BASE` columns the three resource streams read, with their T-SQL types from the
 * fixture (`dentrix_enterprise_11_mssql.sql`). The key is `URSCID`+`RSCDB`; `RSCID` is the
 * resource's short varchar code, not its key.
 */
export const RSC_COLUMNS = {
  URSCID: 'int',
  RSCDB: 'int',
  RSCID: 'varchar(255)',
  RSCTYPE: 'int',
  NAME_LAST: 'varchar(255)',
  NAME_FIRST: 'varchar(255)',
  NAME_INITIAL: 'varchar(255)',
  Suffix: 'varchar(255)',
  STREET: 'varchar(255)',
  STREET2: 'varchar(255)',
  CITY: 'varchar(255)',
  STATE: 'varchar(255)',
  ZIP: 'varchar(255)',
  COUNTRY: 'varchar(255)',
  PHONE: 'varchar(255)',
  Fax: 'varchar(255)',
  Email: 'varchar(255)',
  STATEID: 'varchar(255)',
  ClinicNPI: 'varchar(255)',
  ActiveFlag: 'smallint',
} as const satisfies ColumnDeclarations;

/** The resource's display name: `NAME_LAST` (A: where Dentrix keeps a clinic's or chair's name), else its code. */
export function resourceName(nameLast: unknown, code: unknown): string | undefined {
  for (const value of [nameLast, code]) {
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
}

/** `ActiveFlag` as a Location status (A: 1 active, 0 inactive; other values unknown). */
export function activeStatus(flag: unknown): 'active' | 'inactive' | undefined {
  const text = cellText(flag).trim();
  if (text === '1') return 'active';
  if (text === '0') return 'inactive';
  return undefined;
}
