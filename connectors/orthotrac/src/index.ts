import { provisionalOrthoConnector } from '@tendril/ortho-provisional';

/**
 * Orthotrac. What is known (docs/connectors/dolphin-orthotrac.md): no public schema; the engine is presumably SQL Server; a
 * `Main_OMS` database is named by a NexHealth install guide that does not say whether it is
 * Orthotrac's, Dolphin's or both. Everything else is the shared provisional map
 * (`@tendril/ortho-provisional`): placeholder names to map at install with `tendril discover` and
 * `tendril map` (docs/connectors/dolphin-orthotrac.md).
 */
export const orthotrac = provisionalOrthoConnector({ id: 'orthotrac', displayName: 'Orthotrac' });

export default orthotrac;
export { PROVISIONAL_NOTE } from '@tendril/ortho-provisional';
