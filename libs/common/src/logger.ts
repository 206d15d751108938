import pino, { type Logger, type LoggerOptions } from 'pino';

const SECRET_KEYS = [
  'password',
  'master_secret',
  'masterSecret',
  'device_secret',
  'deviceSecret',
  'secret',
  'token',
  'key',
  'p12',
  'passphrase',
  'private_key',
  'service_account',
  'access_token',
  'refresh_token',
  // a query's bound values (TypeORM's QueryFailedError) and the driver error that repeats them
  'parameters',
  'driverError',
];

/**
 * Paths pino removes from every log line, at every depth up to four (a job's `data.payload.token`, an
 * error's `parameters`). Whole device tokens and every secret stay out of logs; code that must
 * mention a token logs `tokenSuffix()` instead.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-app-key"]',
  'res.headers["set-cookie"]',
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]),
];

export function loggerOptions(level: string, name: string): LoggerOptions {
  return {
    name,
    level,
    base: { app: name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLogger(level: string, name: string): Logger {
  return pino(loggerOptions(level, name));
}

/** What a log line may say about a device token: its length and last six characters. */
export function tokenSuffix(token: string | null | undefined): string | null {
  if (!token) return null;
  return `…${token.slice(-6)} (${token.length})`;
}
