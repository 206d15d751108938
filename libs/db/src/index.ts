export * from './entities';
export { createDataSource, dataSourceOptions, pendingMigrations, runMigrations } from './data-source';
export type { DatabaseSettings } from './data-source';
export { DbModule } from './db.module';
