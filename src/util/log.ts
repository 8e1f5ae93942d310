/**
 * Logging: pino to stderr. moxi's -v / -vv / -vvv map to info / debug / trace; without -v only warnings
 * and errors are written. Hot paths check `isLevelEnabled` before building a message.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function levelForVerbosity(verbosity: number): pino.Level {
  if (verbosity >= 3) return 'trace';
  if (verbosity === 2) return 'debug';
  if (verbosity === 1) return 'info';
  return 'warn';
}

export function createLogger(verbosity: number): Logger {
  return pino(
    { name: 'moxi', level: levelForVerbosity(verbosity), base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: false, minLength: 0 }),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
