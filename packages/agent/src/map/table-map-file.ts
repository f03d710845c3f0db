import { readFileSync, writeFileSync } from 'node:fs';
import { TendrilError, type TableOverride } from '@tendril/core';
import { isMap, isSeq, parseDocument } from 'yaml';

/**
 * Writes `connections[<id>].tableMap.<stream>` into the config file, keeping the rest of the file
 * (comments, order, `${VAR}` references) as it was: the YAML document is edited, not rebuilt.
 */
export function writeTableMapOverride(
  file: string,
  connectionId: string,
  stream: string,
  override: TableOverride,
): void {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const connections = doc.get('connections');
  if (!isSeq(connections)) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `${file}: connections must be a list to hold a tableMap`,
    );
  }
  const index = connections.items.findIndex((item) => isMap(item) && item.get('id') === connectionId);
  if (index < 0) {
    throw new TendrilError(
      'TENDRIL_E_CONFIG_INVALID',
      `${file}: no connection ${connectionId} in connections`,
      {
        details: { connection: connectionId },
      },
    );
  }
  doc.setIn(['connections', index, 'tableMap', stream], doc.createNode(override));
  writeFileSync(file, doc.toString());
}
