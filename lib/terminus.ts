// The `nestjs-sessionkit/terminus` entry point: kept apart from the main one so that apps without
// @nestjs/terminus (an optional peer dependency) never load it.
export { SessionStoreHealthIndicator, type SessionStoreHealthOptions } from './integrations/terminus/session-store.health.js';
