import type { INestApplication } from '@nestjs/common';
import { SESSION_STORE, type SessionRecord, type SessionStore } from 'nestjs-sessionkit';
import { AppModule } from '../../sample/app.module.js';
import { type AdapterName, SECRET, baseUrl, startApp } from '../support/app.js';
import { handleOf, idOf } from '../support/cookies.js';

/** The sample app, started in-process on a free port, and what its store holds. */
export interface SampleApp {
  app: INestApplication;
  base: string;
  store: SessionStore;
  /** The record of the session a signed `sid` cookie value names, or undefined. */
  record(cookieValue: string): Promise<SessionRecord | undefined>;
}

/**
 * Starts the sample as `npm start` would in development: plain HTTP, so a non-Secure cookie
 * (the sample turns `Secure` off unless NODE_ENV is production), and the in-memory store
 * (REDIS_URL, which CI sets for the Redis suites, is ignored here).
 */
export async function startSample(adapter: AdapterName): Promise<SampleApp> {
  const saved = { REDIS_URL: process.env.REDIS_URL, SESSION_SECRET: process.env.SESSION_SECRET };
  delete process.env.REDIS_URL;
  process.env.SESSION_SECRET = SECRET;
  try {
    const app = await startApp(AppModule, adapter);
    const store = app.get<SessionStore>(SESSION_STORE);
    return { app, base: await baseUrl(app), store, record: (value) => store.get(handleOf(idOf(value))) };
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
