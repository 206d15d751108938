/** The process's fail-fast Redis connection (see `createRedis('producer')`). */
export const REDIS = Symbol('REDIS');
