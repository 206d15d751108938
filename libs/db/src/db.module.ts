import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { dataSourceOptions } from './data-source';

/** The one TypeORM connection pool of a process. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [HERALD_CONFIG],
      useFactory: (config: HeraldConfig) => ({
        ...dataSourceOptions({ url: config.database.url, poolSize: config.database.poolSize }),
        // Boot fails fast and clearly when PostgreSQL is down, rather than retrying silently.
        retryAttempts: 0,
      }),
    }),
  ],
  exports: [TypeOrmModule],
})
export class DbModule {}
