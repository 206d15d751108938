import { prepareTemplateDatabase } from '../test-database';

prepareTemplateDatabase().then(
  (name) => process.stdout.write(`test template database: ${name}\n`),
  (err: unknown) => {
    process.stderr.write(`could not prepare the test template database: ${String(err)}\n`);
    process.exit(1);
  },
);
