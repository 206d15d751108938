/**
 * One jest run for every tier: `*.spec.ts` (unit), `*.int-spec.ts` (real PostgreSQL and Redis),
 * `*.e2e-spec.ts` (booted apps). Files run in parallel; each integration file gets its own database
 * (cloned from a migrated template) and its own Redis key prefix, so they never see each other.
 */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const libs = [
  'config',
  'crypto',
  'db',
  'common',
  'queue',
  'platform',
  'testing',
  'providers',
  'gateway-protocol',
  'gateway-client',
  'audience',
  'push',
  'schedules',
  'metrics',
];

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/{apps,libs,test,migrations}/**/*.{spec,int-spec,e2e-spec}.ts'],
  moduleNameMapper: {
    ...Object.fromEntries(libs.map((l) => [`^@herald/${l}$`, `<rootDir>/libs/${l}/src`])),
    '^@herald/migrations$': '<rootDir>/migrations',
  },
  globalSetup: '<rootDir>/libs/testing/src/jest/global-setup.ts',
  // Two cores: two workers keep both busy without starving PostgreSQL and Redis.
  maxWorkers: 2,
  testTimeout: 30_000,
  slowTestThreshold: 10,
};
