import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTOR_LOADERS, loadAllConnectors } from '@tendril/agent';
import { REPO_ROOT } from './support/paths.js';

describe('connector registry', () => {
  it('lists every folder under connectors/, and each loads under its own id', async () => {
    const folders = readdirSync(join(REPO_ROOT, 'connectors')).filter((f) =>
      statSync(join(REPO_ROOT, 'connectors', f)).isDirectory(),
    );
    expect(Object.keys(CONNECTOR_LOADERS).sort()).toEqual(folders.sort());
    const loaded = await loadAllConnectors();
    for (const [id, connector] of loaded) expect(connector.id).toBe(id);
  });
});
