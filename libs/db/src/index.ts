export * from './entities';
export { createDataSource, dataSourceOptions, runMigrations } from './data-source';
export type { DatabaseSettings } from './data-source';
export { DbModule } from './db.module';
export { preparedQuery, preparedRunner } from './prepared-query';
export { arrayLiteral, lateralRunner } from './lateral-batch';
export { refusedByContent, sqlState } from './statement-error';
