import { pino, type Logger } from 'pino';

/**
 * The process logger (JSON lines on stderr). Secrets are redacted by key wherever they appear.
 * Never log whole messages: log ids, sizes and hashes.
 * @param level pino level, or 'silent'
 */
export function createLogger(level: string = 'info'): Logger {
  return pino(
    {
      level,
      base: { app: 'posteingang' },
      redact: {
        paths: ['password', '*.password', 'pass', '*.pass', 'token', '*.token', 'secret', '*.secret', 'authorization', '*.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
