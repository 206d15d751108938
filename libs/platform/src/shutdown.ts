import type { Logger } from 'pino';

export interface Closable {
  name: string;
  close(): Promise<void>;
}

/**
 * SIGTERM/SIGINT close every part in order (stop intake first, then drain), bounded by a timeout;
 * a second signal or the timeout exits at once. Exit code 0 when everything closed cleanly.
 */
export function installShutdown(parts: Closable[], logger: Logger, timeoutMs: number): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out: exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    void (async () => {
      let failed = false;
      for (const part of parts) {
        try {
          await part.close();
          logger.info({ part: part.name }, 'closed');
        } catch (err) {
          failed = true;
          logger.error({ part: part.name, err }, 'close failed');
        }
      }
      clearTimeout(timer);
      logger.flush();
      process.exit(failed ? 1 : 0);
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
