import type { Logger } from 'pino';
import { loadConfigOrExit, redactConfig, type HeraldConfig } from '@herald/config';
import { createLogger } from '@herald/common';
import { installShutdown, type Closable } from './shutdown';

/**
 * The shape of every entry point: validate configuration (exit 78 naming the bad keys), log it
 * redacted, start, and close the returned parts in order on SIGTERM/SIGINT.
 */
export function runProcess(
  name: string,
  start: (config: HeraldConfig, logger: Logger) => Promise<Closable[]>,
): void {
  const config = loadConfigOrExit(name);
  const logger = createLogger(config.logLevel, name);
  logger.info({ config: redactConfig(config) }, 'configuration');
  start(config, logger).then(
    (parts) => installShutdown(parts, logger, config.shutdownTimeoutMs),
    (err: unknown) => {
      logger.fatal({ err }, 'failed to start');
      logger.flush();
      process.stderr.write(
        `herald ${name}: failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
