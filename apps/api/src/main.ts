import 'reflect-metadata';
import { runProcess } from '@herald/platform';
import { startApi } from './api.bootstrap';

runProcess('api', async (config, logger) => {
  const app = await startApi(config);
  logger.info({ url: config.api.publicUrl, docs: `${config.api.publicUrl}/docs` }, 'api listening');
  return [{ name: 'api', close: () => app.close() }];
});
