import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openSqliteStore } from './open.js';
import { describeWritebackStoreContract } from '../writeback-store-contract.test-helper.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tendril-wb2-store-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeWritebackStoreContract('sqlite file', async (deliveryRoutes) =>
  openSqliteStore(join(dir, `store-${(counter += 1)}.db`), { deliveryRoutes }),
);
