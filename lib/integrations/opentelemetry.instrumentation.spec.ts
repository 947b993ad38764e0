import * as api from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { readFileSync } from 'node:fs';
import { SessionRuntime } from '../core/session.runtime.js';
import { resolveSessionOptions } from '../session-options.js';
import { Redis } from 'ioredis';
import { Pool } from 'pg';
import { CookieStore } from '../stores/cookie.store.js';
import { MemoryStore } from '../stores/memory.store.js';
import { PostgresStore } from '../stores/postgres.store.js';
import { RedisStore } from '../stores/redis.store.js';
import type { SessionStore } from '../stores/session-store.interface.js';
import { INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, loadOpenTelemetry } from './opentelemetry.api.js';
import { SessionTelemetry, errorType, instrumentedRuntime } from './opentelemetry.instrumentation.js';

const SECRET = 'a-long-random-enough-test-secret-0123456789';

describe('OpenTelemetry instrumentation', () => {
  afterEach(() => api.trace.disable());

  it("names the tracer and meter after the package, with package.json's version", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    expect(INSTRUMENTATION_NAME).toBe(pkg.name);
    expect(INSTRUMENTATION_VERSION).toBe(pkg.version);
  });

  it('loads the installed @opentelemetry/api', async () => {
    const loaded = await loadOpenTelemetry();
    expect(loaded?.trace.getTracerProvider()).toBe(api.trace.getTracerProvider());
  });

  it('has no tracer while no SDK is registered, finds one registered later, and loses it when it goes', () => {
    const telemetry = new SessionTelemetry(api, false, new MemoryStore(), false);
    expect(telemetry.tracer()).toBeUndefined();
    expect(telemetry.active).toBe(false);

    const exporter = new InMemorySpanExporter();
    api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const tracer = telemetry.tracer();
    expect(tracer).toBeDefined();
    expect(telemetry.tracer()).toBe(tracer);
    tracer!.startSpan('probe').end();
    expect(exporter.getFinishedSpans()[0]?.instrumentationScope).toEqual(expect.objectContaining({ name: INSTRUMENTATION_NAME, version: INSTRUMENTATION_VERSION }));

    api.trace.disable();
    expect(telemetry.tracer()).toBeUndefined();
  });

  it('wraps the store and the seams with the API installed, and leaves the runtime alone when telemetry is off', async () => {
    const store = new MemoryStore();
    const on = await instrumentedRuntime(resolveSessionOptions({ secret: SECRET }), store);
    expect(on.store).not.toBe(store);
    expect(on.read).not.toBe(SessionRuntime.prototype.read);
    // Optional methods stay as the store has them: the runtime picks how to write by them.
    expect(typeof on.store.patch).toBe('function');
    expect(typeof on.store.move).toBe('function');
    await on.store.set('h', { data: { a: 1 }, createdAt: 1, touchedAt: 1 }, 60_000);
    expect(await on.store.get('h')).toEqual({ data: { a: 1 }, createdAt: 1, touchedAt: 1 });

    const off = await instrumentedRuntime(resolveSessionOptions({ secret: SECRET, telemetry: { enabled: false } }), store);
    expect(off.store).toBe(store);
    expect(off.read).toBe(SessionRuntime.prototype.read);
    expect(off.commit).toBe(SessionRuntime.prototype.commit);
  });

  it('names the store on every span and metric point, with db.system for stores with a database server', async () => {
    const attributes = (store: SessionStore) => new SessionTelemetry(api, false, store, false).base;
    const redis = new Redis({ lazyConnect: true });
    const pool = new Pool();
    try {
      expect(attributes(new MemoryStore())).toEqual({ 'session.store': 'memory' });
      expect(attributes(new RedisStore({ client: redis }))).toEqual({ 'session.store': 'redis', 'db.system': 'redis' });
      expect(attributes(new PostgresStore({ pool }))).toEqual({ 'session.store': 'postgres', 'db.system': 'postgresql' });
      expect(attributes(new CookieStore())).toEqual({ 'session.store': 'cookie' });
      // A subclass of a known store is that store; any other store goes by its class name.
      class AuditedRedisStore extends RedisStore {}
      expect(attributes(new AuditedRedisStore({ client: redis }))).toEqual({ 'session.store': 'redis', 'db.system': 'redis' });
      class TunedMemoryStore extends MemoryStore {}
      expect(attributes(new TunedMemoryStore())).toEqual({ 'session.store': 'memory' });
      class DynamoStore implements SessionStore {
        get = async () => undefined;
        set = async () => undefined;
        destroy = async () => undefined;
      }
      expect(attributes(new DynamoStore())).toEqual({ 'session.store': 'DynamoStore' });
      const literal: SessionStore = { get: async () => undefined, set: async () => undefined, destroy: async () => undefined };
      expect(attributes(literal)).toEqual({ 'session.store': 'custom' });
    } finally {
      redis.disconnect();
      await pool.end();
    }
  });

  it("names errors by their code, else their class (OpenTelemetry's error.type)", () => {
    expect(errorType(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errorType(new RangeError('x'))).toBe('RangeError');
    expect(errorType('a string')).toBe('_OTHER');
    expect(errorType({})).toBe('_OTHER');
    expect(errorType(undefined)).toBe('_OTHER');
  });

  it('refuses telemetry options that are not booleans', () => {
    expect(() => resolveSessionOptions({ secret: SECRET, telemetry: { includeHandle: 'yes' as unknown as boolean } })).toThrow(/telemetry\.includeHandle must be true or false/);
    expect(() => resolveSessionOptions({ secret: SECRET, telemetry: { enabled: 0 as unknown as boolean } })).toThrow(/telemetry\.enabled must be true or false/);
    expect(() => resolveSessionOptions({ secret: SECRET, telemetry: true as never })).toThrow(/telemetry must be an object/);
    expect(resolveSessionOptions({ secret: SECRET }).telemetry).toEqual({ enabled: true, includeHandle: false, countSessions: false });
  });
});
