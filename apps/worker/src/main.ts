import 'reflect-metadata';
import { runProcess } from '@herald/platform';
import { startWorker } from './worker.bootstrap';

runProcess('worker', async (config) => {
  const app = await startWorker(config);
  return [{ name: 'worker', close: () => app.close() }];
});
