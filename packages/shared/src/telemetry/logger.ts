import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * JSON lines on stdout. Every line carries the component and, on zone CPs, the zone; callers add
 * `mesh` and `resource` through child loggers so a line always says what it concerns.
 */
export function createLogger(options: { component: string; level?: LogLevel; zone?: string; destination?: NodeJS.WritableStream }): Logger {
  const base: Record<string, string> = { component: options.component };
  if (options.zone) base.zone = options.zone;
  return pino(
    { level: options.level ?? 'info', base, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    options.destination ?? process.stdout,
  );
}
