export * from './entities';
export { createDataSource, dataSourceOptions, runMigrations } from './data-source';
export type { DatabaseSettings } from './data-source';
export { DbModule } from './db.module';
export { preparedQuery, preparedRunner, type Queryable } from './prepared-query';
export { arrayLiteral, lateralRunner, textParam } from './lateral-batch';
export { refusedByContent, sqlState } from './statement-error';
