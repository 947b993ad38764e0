/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

// The e2e suites again, against NestJS 11 (installed by the test/v11 workspace). NestJS 11 is
// CommonJS, so this run compiles to CommonJS, as a NestJS 11 app's own tests do, and maps every
// import of a NestJS package, from the library, the tests and NestJS itself, to version 11.
const nest11 = '<rootDir>/test/v11/node_modules/@nestjs';

const config: Config = {
  displayName: 'nest11',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.e2e-spec.ts'],
  // Not here: GraphQL (@nestjs/graphql 14 needs NestJS 12), WebSockets (@nestjs/websockets is
  // installed for NestJS 12 only), the README's type-check, the README's Quick start run (a child
  // process on the project's NestJS 12) and the sample's browser test (no NestJS-version question in them);
  // @SessionLock() over GraphQL and WebSockets, and its child-process crash test (NestJS 12, ES modules);
  // the long trial loops of the stores' atomicity (the regenerate race, 1,000 users moved from
  // express-session), which ask the stores, not NestJS: the rest of this run covers the same paths.
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/test/consumers/',
    '<rootDir>/test/graphql.e2e-spec.ts',
    '<rootDir>/test/websocket.e2e-spec.ts',
    '<rootDir>/test/legacy-websocket.e2e-spec.ts',
    '<rootDir>/test/session-interceptor-ws.e2e-spec.ts',
    '<rootDir>/test/session-interceptor-graphql.e2e-spec.ts',
    '<rootDir>/test/readme.e2e-spec.ts',
    '<rootDir>/test/readme-quick-start.e2e-spec.ts',
    '<rootDir>/test/sample/browser.e2e-spec.ts',
    '<rootDir>/test/session-lock-transports.e2e-spec.ts',
    '<rootDir>/test/redis/session-lock-crash.e2e-spec.ts',
    '<rootDir>/test/regenerate-race.e2e-spec.ts',
    '<rootDir>/test/legacy.e2e-spec.ts',
  ],
  globalSetup: '<rootDir>/test/support/check-services.mjs',
  moduleNameMapper: {
    '^nestjs-sessionkit$': '<rootDir>/lib/index.ts',
    '^nestjs-sessionkit/testing$': '<rootDir>/lib/testing/index.ts',
    '^nestjs-sessionkit/terminus$': '<rootDir>/lib/terminus.ts',
    '^@nestjs/(common|core|platform-express|platform-fastify|testing|passport|terminus|event-emitter)$': `${nest11}/$1`,
    '^@nestjs/(common|core|platform-express|platform-fastify|testing|passport|terminus|event-emitter)/(.*)$': `${nest11}/$1/$2`,
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
        module: { type: 'commonjs' },
      },
    ],
  },
  testTimeout: 30_000,
};

export default config;
