/**
 * UNVERIFIED — confirm with `tendril discover`.
 *
 * No public schema exists for Dolphin Management (vendors.md). The only public fact is that the
 * practice's SQL Server user is mapped to a database named `Main_OMS` (NexHealth install guide).
 * Every table and column name in `tables/` is a neutral PLACEHOLDER chosen by Tendril, not a name
 * seen in a Dolphin database: an integration engineer runs `tendril discover` at install time and
 * maps the real names with `connections[].tableMap` (table, key, cursor, columns) — no code.
 * Types are written so they are valid on SQL Server and in the test DDL (MariaDB/SQLite).
 */
export const PROVISIONAL_NOTE = 'no public schema: unverified — confirm with tendril discover';

/**
 * Provisional status words → standard status. The real Dolphin codes are unknown; anything not
 * listed maps to `booked` and the raw value is always kept in `sourceStatus`.
 */
export const APPOINTMENT_STATUS = {
  scheduled: 'booked',
  confirmed: 'booked',
  arrived: 'arrived',
  seated: 'checked-in',
  completed: 'fulfilled',
  cancelled: 'cancelled',
  noshow: 'noshow',
} as const;
