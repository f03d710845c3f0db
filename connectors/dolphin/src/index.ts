import { provisionalOrthoConnector } from '@tendril/ortho-provisional';

/**
 * Dolphin Management. What is known (docs/connectors/dolphin-orthotrac.md): no public schema; the practice's SQL Server login
 * is mapped to a database named `Main_OMS` (a NexHealth install guide that does not say which
 * product it belongs to); the engine is presumably SQL Server. Everything else is the shared
 * provisional map (`@tendril/ortho-provisional`): placeholder names to map at install with
 * `tendril discover` and `tendril map` (docs/connectors/dolphin-orthotrac.md).
 */
export const dolphin = provisionalOrthoConnector({ id: 'dolphin', displayName: 'Dolphin Management' });

export default dolphin;
export { PROVISIONAL_NOTE } from '@tendril/ortho-provisional';
