/** pino-roll ships no types: the part of its API the logger uses (logger.ts). */
declare module 'pino-roll' {
  import type { DestinationStream } from 'pino';
  export default function build(options: {
    file: string;
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
  }): Promise<DestinationStream & { end(): void }>;
}
