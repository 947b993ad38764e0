import type { DynamicModule, INestApplication, Provider, Type } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

/** The two HTTP platforms every e2e suite runs on. */
export const adapters = ['express', 'fastify'] as const;
export type AdapterName = (typeof adapters)[number];

/** A long enough test secret (never use a fixed secret in an app). */
export const SECRET = 'test-secret-that-is-long-enough-0123456789';
export const OLD_SECRET = 'old-secret-that-is-long-enough-9876543210';

/** What a suite may add when it starts an app. */
export interface StartOptions {
  /** Extra root providers (e.g. `APP_INTERCEPTOR`). */
  providers?: Provider[];
  /** Runs before `init()`, where an app's main.ts registers its middleware or WebSocket adapter. */
  beforeInit?: (app: INestApplication) => void;
}

/** Starts `module` on the given platform, listening on a free loopback port. */
export async function startApp(module: Type<unknown> | DynamicModule, adapter: AdapterName, options: StartOptions = {}): Promise<INestApplication> {
  const ref = await Test.createTestingModule({ imports: [module], providers: options.providers ?? [] }).compile();
  const app = ref.createNestApplication(adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter(), { logger: false });
  options.beforeInit?.(app);
  await app.init();
  if (adapter === 'fastify') await app.getHttpAdapter().getInstance().ready();
  await app.listen(0, '127.0.0.1');
  return app;
}

/** The base URL of a started app. */
export async function baseUrl(app: INestApplication): Promise<string> {
  const url = await app.getUrl();
  return url.replace('[::1]', '127.0.0.1');
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The error `module` fails to start with. If it starts after all, it is closed again (so no
 * server is left open) and this rejects.
 */
export async function startupError(module: Type<unknown> | DynamicModule, adapter: AdapterName): Promise<Error> {
  let app: INestApplication;
  try {
    app = await startApp(module, adapter);
  } catch (error) {
    return error as Error;
  }
  await app.close();
  throw new Error('The app started, but it should have failed at startup.');
}
