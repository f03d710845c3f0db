import { z } from 'zod';

/**
 * Connection options of the OpenEMR connector (`connections[].options`). None yet; strict, so a
 * typo or an option meant for another connector is an error instead of being silently ignored.
 */
export const openEmrOptionsSchema = z.object({}).strict();

export type OpenEmrOptions = z.infer<typeof openEmrOptionsSchema>;
