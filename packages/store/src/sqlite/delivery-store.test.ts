import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { describeDeliveryStoreContract } from '../delivery-store-contract.test-helper.js';
import { openSqliteStore } from './open.js';

let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tendril-dlv-store-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeDeliveryStoreContract('sqlite file', async (deliveryRoutes) =>
  openSqliteStore(join(dir, `store-${(counter += 1)}.db`), { deliveryRoutes }),
);
describeDeliveryStoreContract('sqlite :memory:', async (deliveryRoutes) =>
  openSqliteStore(':memory:', { deliveryRoutes }),
);
