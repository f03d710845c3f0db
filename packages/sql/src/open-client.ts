import type { DatabaseConfig } from '@tendril/core';
import { createSqlClient, type SqlClient, type SqlClientOptions } from './client.js';
import { createOdbcClient } from './odbc-client.js';

/**
 * Opens the client a `connections[].database` entry asks for: `{ odbc, dialect }` through unixODBC
 * ({@link createOdbcClient}), a URL or parts through knex ({@link createSqlClient}). Callers that
 * take any configured database use this, so the ODBC path needs no special case elsewhere.
 */
export function openSqlClient(db: DatabaseConfig, options: SqlClientOptions = {}): SqlClient {
  if ('odbc' in db) {
    return createOdbcClient(
      { connectionString: db.odbc, dialect: db.dialect },
      options.pool ? { maxConnections: options.pool.max } : {},
    );
  }
  return createSqlClient(db, options);
}
