import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore, type SessionStore } from 'nestjs-sessionkit';

/**
 * Picks the session store: Redis when REDIS_URL is set, the in-memory store otherwise.
 * The Redis client is the app's own, so the app quits it on shutdown.
 */
@Injectable()
export class SessionStoreProvider implements OnApplicationShutdown {
  private client: Redis | undefined;

  /** The store to use; `undefined` lets SessionModule create (and close) its in-memory default. */
  async create(): Promise<SessionStore | undefined> {
    const url = process.env.REDIS_URL;
    if (!url) return undefined;
    // Loaded only when used: an app on the in-memory store never needs ioredis installed.
    const { Redis } = await import('ioredis');
    this.client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    this.client.on('error', (error: Error) => new Logger('Redis').warn(error.message));
    return new RedisStore({ client: this.client, prefix: 'sample:sess:' });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client?.quit();
  }
}
