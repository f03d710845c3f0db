/**
 * UNVERIFIED — confirm with `tendril discover`, map with `tendril map`.
 *
 * No public schema exists for Dolphin Management or Orthotrac (docs/connectors/dolphin-orthotrac.md). The only public facts:
 * the practice's SQL Server login is mapped to a database named `Main_OMS` (a NexHealth install
 * guide, which does not say which of the two products it belongs to, or whether both), and the
 * engine is presumed to be SQL Server. Every table and column name in `tables/` is a neutral
 * PLACEHOLDER chosen by Tendril, not a name seen in either product's database: an integration
 * engineer maps the real names at install time with `tendril map` (or by hand in
 * `connections[].tableMap`) — no code. Types are written so they are valid on SQL Server and in
 * the test DDL (MariaDB/SQLite).
 */
export const PROVISIONAL_NOTE = 'no public schema: unverified — confirm with tendril discover';

/**
 * Provisional status words → standard status. The real status codes of either product are
 * unknown; anything not listed maps to `booked` and the raw value is always kept in `sourceStatus`.
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
