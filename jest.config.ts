/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// NestJS 12 ships ES modules only, so tests run as ESM (NODE_OPTIONS=--experimental-vm-modules)
// and swc compiles TypeScript with legacy decorators plus the metadata Nest's DI reads.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/lib', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  // test/v11 runs under jest.v11.config.ts; test/consumers are apps with their own installs.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/v11/', '<rootDir>/test/consumers/'],
  globalSetup: '<rootDir>/test/support/check-services.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^nestjs-sessionkit$': '<rootDir>/lib/index.ts',
    '^nestjs-sessionkit/terminus$': '<rootDir>/lib/terminus.ts',
    '^nestjs-sessionkit/testing$': '<rootDir>/lib/testing/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
        },
        module: { type: 'es6' },
      },
    ],
  },
  testTimeout: 30_000,
};

export default config;
