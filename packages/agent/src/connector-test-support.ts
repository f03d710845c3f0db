import { TendrilError } from '@tendril/core';

/**
 * Each connector's test support (data generator, reference data, API fake), by connector id.
 * Only `tendril seed` and `tendril demo` load it, always through this dynamic import: a release
 * build does not ship the `testing` subpaths, and every other command works without them.
 */
export const TEST_SUPPORT_LOADERS = {
  'open-dental': () => import('@tendril/connector-open-dental/testing'),
  openemr: () => import('@tendril/connector-openemr/testing'),
  'dentrix-enterprise': () => import('@tendril/connector-dentrix-enterprise/testing'),
} as const;

export type ConnectorWithTestSupport = keyof typeof TEST_SUPPORT_LOADERS;
export type TestSupportOf<Id extends ConnectorWithTestSupport> = Awaited<
  ReturnType<(typeof TEST_SUPPORT_LOADERS)[Id]>
>;

/** Node's codes for a module that is not installed, or a package subpath that is not shipped. */
const ABSENT_MODULE_CODES = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);

function isAbsentModule(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ABSENT_MODULE_CODES.has(code);
}

/**
 * Loads a connector's test support for `command`, or throws `TENDRIL_E_NOT_AVAILABLE` saying
 * plainly that this build does not ship it (or that the connector has none).
 */
export async function loadTestSupport<Id extends ConnectorWithTestSupport>(
  connectorId: Id,
  command: string,
  loaders: { readonly [K in Id]: () => Promise<unknown> } = TEST_SUPPORT_LOADERS,
): Promise<TestSupportOf<Id>> {
  try {
    return (await loaders[connectorId]()) as TestSupportOf<Id>;
  } catch (error) {
    if (!isAbsentModule(error)) throw error;
    throw new TendrilError(
      'TENDRIL_E_NOT_AVAILABLE',
      `${command} needs the test support of connector ${connectorId} (its data generator), and this build does not include it: release builds leave generators and fakes out. Run ${command} from a source checkout (pnpm install && pnpm build).`,
      { cause: error, details: { connector: connectorId } },
    );
  }
}

/**
 * The generic seeder of `@tendril/testing` (tables and placeholder rows from a connector's own
 * declarations), for `tendril seed --from-declarations`: any connector, a new one included. Loaded
 * like the connectors' test support, and absent from a release build the same way.
 */
export async function loadGenericSeeding(command: string) {
  try {
    return await import('@tendril/testing');
  } catch (error) {
    if (!isAbsentModule(error)) throw error;
    throw new TendrilError(
      'TENDRIL_E_NOT_AVAILABLE',
      `${command} needs @tendril/testing (the generic seeder), and this build does not include it: release builds leave test support out. Run ${command} from a source checkout (pnpm install && pnpm build).`,
      { cause: error },
    );
  }
}

/** Whether a connector has test support in this source tree (it may still be absent from a build). */
export function hasTestSupport(connectorId: string): connectorId is ConnectorWithTestSupport {
  return Object.hasOwn(TEST_SUPPORT_LOADERS, connectorId);
}
