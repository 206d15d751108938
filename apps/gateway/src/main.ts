import 'reflect-metadata';
import { runProcess } from '@herald/platform';
import { startGateway } from './gateway.bootstrap';

runProcess('gateway', async (config, logger) => {
  const app = await startGateway(config);
  logger.info({ url: config.gateway.publicUrl }, 'gateway listening');
  return [{ name: 'gateway', close: () => app.close() }];
});
