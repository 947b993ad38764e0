import type { INestApplication } from '@nestjs/common';
import { type Attributes, context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type DataPoint, type Histogram, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CookieStore, MemoryStore, PostgresStore, RedisStore, type SessionStore, type SessionTelemetryOptions } from 'nestjs-sessionkit';
import { REQUEST_HEADER, telemetryAppModule } from './fixtures/opentelemetry.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client, type Reply } from './support/client.js';
import { closeClient, newRedis, testPrefix, waitUntil } from './support/redis.js';
import { TestRedisServer } from './support/redis-server.js';
import { dropSchema, newPool, testSchema } from './support/postgres.js';
import type { Pool } from 'pg';
import { readFileSync } from 'node:fs';

/** A reader the test collects from when it wants (no timer). */
class TestMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** A real SDK, registered globally for one describe block: spans kept in memory, metrics collected on demand. */
class TestSdk {
  readonly exporter = new InMemorySpanExporter();
  readonly reader = new TestMetricReader();
  private readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter)] });
  private readonly meterProvider = new MeterProvider({ readers: [this.reader] });

  constructor() {
    // What makes the session spans children of the request's span.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(this.tracerProvider);
    metrics.setGlobalMeterProvider(this.meterProvider);
  }

  async collect(): Promise<MetricData[]> {
    // Counters come from session events, delivered on a later turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    const { resourceMetrics, errors } = await this.reader.collect();
    expect(errors).toEqual([]);
    return resourceMetrics.scopeMetrics.filter((s) => s.scope.name === 'nestjs-sessionkit').flatMap((s) => s.metrics);
  }

  async stop(): Promise<void> {
    try {
      await this.tracerProvider.shutdown();
      await this.meterProvider.shutdown();
    } finally {
      trace.disable();
      metrics.disable();
      context.disable();
    }
  }
}

function points(data: MetricData[], name: string): DataPoint<unknown>[] {
  return (data.find((m) => m.descriptor.name === name)?.dataPoints ?? []) as DataPoint<unknown>[];
}

function sum(data: MetricData[], name: string, attributes: Attributes = {}): number {
  return points(data, name)
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((total, p) => total + (p.value as number), 0);
}

const storeKinds = ['memory', 'redis', 'postgres'] as const;
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe.each(adapters)('OpenTelemetry (%s)', (adapter) => {
  describe.each(storeKinds)('with %s', (kind) => {
    let sdk: TestSdk;
    let exporter: InMemorySpanExporter;
    let server: TestRedisServer | undefined;
    let redis: Redis | undefined;
    let pool: Pool | undefined;
    const schema = testSchema(`otel_${adapter}`);
    let store: SessionStore;
    let app: INestApplication | undefined;
    let base: string;
    /** Every session id, data value and handle the app handed out: no attribute may contain one. */
    const secrets = new Set<string>();

    async function start(telemetry: SessionTelemetryOptions = {}): Promise<void> {
      sdk = new TestSdk();
      exporter = sdk.exporter;
      if (kind === 'redis') {
        server = await TestRedisServer.create();
        redis = newRedis(server.url, { retryStrategy: () => 100 });
        store = new RedisStore({ client: redis, prefix: testPrefix(`otel-${adapter}`), commandTimeout: 500 });
      } else if (kind === 'postgres') {
        pool = newPool();
        store = new PostgresStore({ pool, schema, createTable: true });
      } else {
        store = new MemoryStore();
      }
      app = await startApp(telemetryAppModule(store, telemetry), adapter);
      base = await baseUrl(app);
    }

    beforeAll(() => start());
    afterAll(async () => {
      try {
        await app?.close();
        await closeClient(redis);
        await server?.dispose();
        if (pool !== undefined) {
          await dropSchema(pool, schema);
          await pool.end();
        }
      } finally {
        await sdk.stop();
      }
    });

    /** Sends a request named `name` (the request span's `test.request`), and remembers the session id it ends with. */
    async function send(client: Client, name: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
      const reply = await client.request(method, path, body, { [REQUEST_HEADER]: name });
      const cookie = client.jar.get('sid');
      if (cookie !== undefined) secrets.add(cookie).add(cookie.split('.')[0]!);
      return reply;
    }

    /** The spans of request `name`, once its own span has ended: the request span and all below it. */
    async function spansOf(name: string): Promise<{ request: ReadableSpan; children: ReadableSpan[] }> {
      let request: ReadableSpan | undefined;
      await waitUntil(`the span of request ${name}`, () => (request = exporter.getFinishedSpans().find((s) => s.attributes['test.request'] === name)) !== undefined);
      const all = exporter.getFinishedSpans();
      const below = (parent: ReadableSpan): ReadableSpan[] =>
        all.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId).flatMap((s) => [s, ...below(s)]);
      const children = below(request!);
      for (const child of children) expect(child.spanContext().traceId).toBe(request!.spanContext().traceId);
      return { request: request!, children };
    }

    function direct(parent: ReadableSpan, spans: ReadableSpan[], name: string): ReadableSpan {
      const found = spans.filter((s) => s.name === name && s.parentSpanContext?.spanId === parent.spanContext().spanId);
      expect(found).toHaveLength(1);
      return found[0]!;
    }

    const storeAttributes = {
      memory: { 'session.store': 'memory' },
      redis: { 'session.store': 'redis', 'db.system': 'redis' },
      postgres: { 'session.store': 'postgres', 'db.system': 'postgresql' },
    }[kind];

    const collect = () => sdk.collect();

    /** Fails if any attribute of any span, span event or metric point contains a remembered secret. */
    async function assertNothingSecret(): Promise<void> {
      const values: string[] = [];
      const add = (attributes: Attributes | undefined) => {
        for (const value of Object.values(attributes ?? {})) values.push(JSON.stringify(value));
      };
      const spans = exporter.getFinishedSpans();
      expect(spans.length).toBeGreaterThan(0);
      for (const span of spans) {
        add(span.attributes);
        values.push(span.name, span.status.message ?? '');
        for (const event of span.events) add(event.attributes);
      }
      for (const metric of await collect()) for (const point of metric.dataPoints) add(point.attributes);
      expect(secrets.size).toBeGreaterThan(3);
      for (const secret of secrets) for (const value of values) expect(value).not.toContain(secret);
    }

    it('traces a visit, a login, a read, a change and a logout under each request span, and counts them', async () => {
      const client = new Client(base);
      const user = `user-${randomUUID()}`;
      const cart = `cart-${randomUUID()}`;
      const note = `note-${randomUUID()}`;
      const color = `color-${randomUUID()}`;
      secrets.add(user).add(cart).add(note).add(color);

      expect((await send(client, 'visit', 'POST', '/set/cart', { value: cart })).status).toBe(200);
      const login = await send(client, 'login', 'POST', '/login', { userId: user, secret: note });
      expect(login.status).toBe(200);
      const handle = (login.body as { handle: string }).handle;
      secrets.add(handle);
      expect((await send(client, 'read', 'GET', '/me')).body).toEqual({ userId: user });
      expect((await send(client, 'change', 'POST', '/set/color', { value: color })).status).toBe(200);
      expect((await send(client, 'plain', 'GET', '/plain')).status).toBe(200);
      expect((await send(client, 'logout', 'POST', '/logout')).status).toBe(200);
      expect(await store.get(handle)).toBeUndefined();

      // A visit: nothing to read (no cookie), a new session written whole.
      const visit = await spansOf('visit');
      expect(visit.children.map((s) => s.name).sort()).toEqual(['session.commit', 'session.load']);
      const visitLoad = direct(visit.request, visit.children, 'session.load');
      expect(visitLoad.attributes).toEqual({ ...storeAttributes, 'session.outcome': 'new' });
      const visitCommit = direct(visit.request, visit.children, 'session.commit');
      expect(visitCommit.attributes).toEqual({ ...storeAttributes, 'session.write': 'set', 'session.bytes_written': Buffer.byteLength(JSON.stringify({ cart })) });

      // The login moves the session to a new id: a commit whose write is the move, with its span.
      const { request: loginSpan, children: loginChildren } = await spansOf('login');
      expect(loginChildren.map((s) => s.name).sort()).toEqual(['session.commit', 'session.load', 'session.regenerate']);
      expect(direct(loginSpan, loginChildren, 'session.load').attributes).toEqual({
        ...storeAttributes,
        'session.outcome': 'hit',
        'session.bytes_read': Buffer.byteLength(JSON.stringify({ cart })),
      });
      const loginCommit = direct(loginSpan, loginChildren, 'session.commit');
      const stored = JSON.stringify({ cart, userId: user, note }).length;
      expect(loginCommit.attributes).toEqual({ ...storeAttributes, 'session.write': 'move', 'session.bytes_written': stored });
      expect(direct(loginCommit, loginChildren, 'session.regenerate').attributes).toEqual({ ...storeAttributes, 'session.outcome': 'moved', 'session.bytes_written': stored });

      // A read: the load only (no touch due).
      const read = await spansOf('read');
      expect(read.children.map((s) => s.name)).toEqual(['session.load']);
      expect(read.children[0]!.attributes).toEqual({ ...storeAttributes, 'session.outcome': 'hit', 'session.bytes_read': stored });

      // A change: a patch of the changed key.
      const change = await spansOf('change');
      expect(change.children.map((s) => s.name).sort()).toEqual(['session.commit', 'session.load']);
      expect(direct(change.request, change.children, 'session.commit').attributes).toEqual({
        ...storeAttributes,
        'session.write': 'patch',
        'session.bytes_written': JSON.stringify(color).length,
      });

      // No session, no span.
      expect((await spansOf('plain')).children).toEqual([]);

      // A logout: the destroy, straight under the request.
      const logout = await spansOf('logout');
      expect(logout.children.map((s) => s.name).sort()).toEqual(['session.destroy', 'session.load']);
      expect(direct(logout.request, logout.children, 'session.destroy').attributes).toEqual(storeAttributes);

      for (const span of [visit, loginSpan, read, change, logout].flatMap((r) => ('children' in r ? r.children : []))) {
        expect(span.instrumentationScope).toEqual(expect.objectContaining({ name: 'nestjs-sessionkit', version }));
        expect(span.status.code).toBe(0);
      }

      const data = await collect();
      expect(sum(data, 'session.created', storeAttributes)).toBe(1);
      expect(sum(data, 'session.regenerated', storeAttributes)).toBe(1);
      expect(sum(data, 'session.destroyed', { ...storeAttributes, 'session.destroy.source': 'request' })).toBe(1);
      expect(sum(data, 'session.expired')).toBe(0);
      expect(sum(data, 'session.commit.failures')).toBe(0);
      const durations = points(data, 'session.store.operation.duration') as DataPoint<Histogram>[];
      const calls = Object.fromEntries(durations.map((p) => [p.attributes['session.store.operation'], p.value.count]));
      // get: visit has no cookie; login, read, change, logout read. set: visit. move: login. patch: change. destroy: logout.
      expect(calls).toEqual({ get: 4, set: 1, move: 1, patch: 1, destroy: 1 });
      for (const point of durations) {
        expect(point.attributes).toEqual(expect.objectContaining(storeAttributes));
        expect(point.value.sum).toBeGreaterThan(0);
      }
      const live = points(data, 'session.live');
      if (kind === 'memory') expect(live).toEqual([expect.objectContaining({ value: 0, attributes: storeAttributes })]);
      else expect(live).toEqual([]);
    });

    it("traces SessionService's listByUser and destroyByUser, and counts the revoked sessions", async () => {
      const user = `user-${randomUUID()}`;
      secrets.add(user);
      for (const device of ['phone', 'laptop']) {
        expect((await send(new Client(base), `login-${device}`, 'POST', '/login', { userId: user, secret: `s-${randomUUID()}` })).status).toBe(200);
      }
      const admin = new Client(base);
      expect((await send(admin, 'list', 'GET', `/sessions/${user}`)).body).toBe(2);
      const list = await spansOf('list');
      expect(list.children.map((s) => s.name)).toEqual(['session.listByUser']);
      expect(list.children[0]!.attributes).toEqual({ ...storeAttributes, 'session.count': 2 });

      expect((await send(admin, 'revoke', 'POST', `/revoke/${user}`)).body).toEqual({ destroyed: 2 });
      const revoke = await spansOf('revoke');
      const destroyByUser = direct(revoke.request, revoke.children, 'session.destroyByUser');
      expect(destroyByUser.attributes).toEqual({ ...storeAttributes, 'session.count': 2 });
      const under = revoke.children.filter((s) => s.parentSpanContext?.spanId === destroyByUser.spanContext().spanId);
      // Memory, Redis and PostgreSQL remove a user's sessions in one atomic store call.
      expect(under.map((s) => s.name)).toEqual(['session.destroyByUser']);

      const data = await collect();
      expect(sum(data, 'session.destroyed', { ...storeAttributes, 'session.destroy.source': 'service' })).toBe(2);
      await assertNothingSecret();
    });

    it('tells an expired session and a missing one apart on load, and counts the expired one', async () => {
      const client = new Client(base);
      const user = `user-${randomUUID()}`;
      secrets.add(user);
      const login = await send(client, 'e-login', 'POST', '/login', { userId: user, secret: `s-${randomUUID()}` });
      const handle = (login.body as { handle: string }).handle;
      secrets.add(handle);
      // The store still has it, but it is past the absolute timeout (7 days) by the app's clock.
      const record = (await store.get(handle))!;
      await store.set(handle, { ...record, createdAt: Date.now() - 8 * 86_400_000 }, 60_000);
      const expiredBefore = sum(await collect(), 'session.expired', storeAttributes);

      expect((await send(client, 'expired', 'GET', '/me')).status).toBe(401);
      const expired = await spansOf('expired');
      const load = direct(expired.request, expired.children, 'session.load');
      expect(load.attributes).toEqual({ ...storeAttributes, 'session.outcome': 'expired', 'session.bytes_read': expect.any(Number) });
      // The runtime drops the record it found expired, without making the request wait.
      await waitUntil('the expired record to go', async () => (await store.get(handle)) === undefined);
      await waitUntil('the destroy span', () => exporter.getFinishedSpans().some((s) => s.name === 'session.destroy' && s.parentSpanContext?.spanId === load.spanContext().spanId));
      expect(sum(await collect(), 'session.expired', storeAttributes) - expiredBefore).toBe(1);

      // The same cookie again: a valid cookie whose record is gone.
      expect((await send(client, 'missing', 'GET', '/me')).status).toBe(401);
      const missing = await spansOf('missing');
      expect(direct(missing.request, missing.children, 'session.load').attributes).toEqual({ ...storeAttributes, 'session.outcome': 'miss', 'session.bytes_read': 0 });
    });

    it('adds the handle to spans with includeHandle, and counts live sessions with countSessions', async () => {
      // A second app on the same store, same SDK.
      const second = await startApp(telemetryAppModule(store, { includeHandle: true, countSessions: true }), adapter);
      try {
        const client = new Client(await baseUrl(second));
        const value = `v-${randomUUID()}`;
        secrets.add(value);
        expect((await send(client, 'h-visit', 'POST', '/set/a', { value })).status).toBe(200);
        const login = await send(client, 'h-login', 'POST', '/login', { userId: `u-${randomUUID()}`, secret: value });
        const handle = (login.body as { handle: string }).handle;
        const { request, children } = await spansOf('h-login');
        const load = direct(request, children, 'session.load');
        expect(load.attributes['session.handle']).toMatch(/^[\w-]+$/);
        expect(load.attributes['session.handle']).not.toBe(handle);
        const commit = direct(request, children, 'session.commit');
        expect(commit.attributes['session.handle']).toBe(handle);
        expect(direct(commit, children, 'session.regenerate').attributes['session.handle']).toBe(handle);
        const live = points(await collect(), 'session.live');
        // The store holds this session and none of the earlier tests' (all logged out or revoked).
        expect(live.map((p) => p.value)).toContain(1);
        expect(live.every((p) => p.attributes['session.store'] === storeAttributes['session.store'])).toBe(true);

        expect((await send(client, 'h-logout', 'POST', '/logout')).status).toBe(200);
        const logout = await spansOf('h-logout');
        expect(direct(logout.request, logout.children, 'session.destroy').attributes).toEqual({ ...storeAttributes, 'session.handle': handle });
        expect(points(await collect(), 'session.live').map((p) => p.value)).toContain(0);
      } finally {
        await second.close();
      }
      if (kind !== 'memory') {
        // A closed app's gauge stops asking its store: a session stored now is not seen (the SDK
        // repeats the last value it had). The first app counts MemoryStore on its own.
        await store.set('a-handle-after-close', { data: {}, createdAt: Date.now(), touchedAt: Date.now() }, 60_000);
        expect(points(await collect(), 'session.live').map((p) => p.value)).toEqual([0]);
        await store.destroy('a-handle-after-close');
      }
    });

    if (kind === 'redis') {
      it('marks the spans of a stopped Redis as errors and counts the failed commit', async () => {
        const client = new Client(base);
        const value = `v-${randomUUID()}`;
        secrets.add(value);
        expect((await send(client, 'before', 'POST', '/set/a', { value })).status).toBe(200);
        const failuresBefore = sum(await collect(), 'session.commit.failures');
        exporter.reset();

        await server!.stop(true);
        try {
          // The load fails: a 503, and an error span with the store's error.
          expect((await send(client, 'down-read', 'GET', '/me')).status).toBe(503);
          const downRead = await spansOf('down-read');
          expect(downRead.children.map((s) => s.name)).toEqual(['session.load']);
          const load = downRead.children[0]!;
          expect(load.status.code).toBe(2);
          expect(load.attributes['error.type']).toEqual(expect.any(String));
          expect(load.events.map((e) => e.name)).toEqual(['exception']);

          // A commit fails: a new visitor has nothing to read, and the write of its session fails.
          const fresh = new Client(base);
          expect((await send(fresh, 'down-write', 'POST', '/set/b', { value })).status).toBe(503);
          const downWrite = await spansOf('down-write');
          const commit = direct(downWrite.request, downWrite.children, 'session.commit');
          expect(commit.status.code).toBe(2);
          expect(commit.attributes).toEqual({ ...storeAttributes, 'session.write': 'set', 'session.bytes_written': JSON.stringify({ b: value }).length, 'error.type': expect.any(String) });
          expect(commit.events.map((e) => e.name)).toEqual(['exception']);
          const data = await collect();
          expect(sum(data, 'session.commit.failures', storeAttributes) - failuresBefore).toBe(1);
          const failedCalls = (points(data, 'session.store.operation.duration') as DataPoint<Histogram>[]).filter((p) => p.attributes['error.type'] !== undefined);
          expect(failedCalls.map((p) => p.attributes['session.store.operation']).sort()).toEqual(['get', 'set']);
        } finally {
          await server!.start();
        }
        await waitUntil('Redis to answer again', async () => (await send(client, 'after', 'GET', '/plain')).status === 200 && (await store.get('probe').then(() => true, () => false)));
        await assertNothingSecret();
      });
    }
  });
});

describe.each(adapters)('OpenTelemetry with CookieStore (%s)', (adapter) => {
  let sdk: TestSdk;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    sdk = new TestSdk();
    app = await startApp(telemetryAppModule(new CookieStore()), adapter);
  });
  afterAll(async () => {
    try {
      await app?.close();
    } finally {
      await sdk.stop();
    }
  });

  it('traces loads, reading nothing (the session is in its cookie), makes no commit span, and counts sessions', async () => {
    const client = new Client(await baseUrl(app!));
    const value = `v-${randomUUID()}`;
    const user = `u-${randomUUID()}`;
    expect((await client.request('POST', '/set/a', { value }, { [REQUEST_HEADER]: 'c-visit' })).status).toBe(200);
    expect((await client.request('POST', '/login', { userId: user, secret: value }, { [REQUEST_HEADER]: 'c-login' })).status).toBe(200);
    expect((await client.request('GET', '/me', undefined, { [REQUEST_HEADER]: 'c-read' })).body).toEqual({ userId: user });

    const spans = sdk.exporter.getFinishedSpans();
    const outcomes = ['c-visit', 'c-login', 'c-read'].map((name) => {
      const request = spans.find((s) => s.attributes['test.request'] === name)!;
      const children = spans.filter((s) => s.parentSpanContext?.spanId === request.spanContext().spanId);
      expect(children.map((s) => s.name)).toEqual(['session.load']);
      return children[0]!.attributes;
    });
    expect(outcomes).toEqual([
      { 'session.store': 'cookie', 'session.outcome': 'new' },
      { 'session.store': 'cookie', 'session.outcome': 'hit' },
      { 'session.store': 'cookie', 'session.outcome': 'hit' },
    ]);
    const cookie = client.jar.get('sid')!;
    for (const span of spans) for (const attribute of Object.values(span.attributes)) for (const secret of [cookie, value, user]) expect(String(attribute)).not.toContain(secret);

    const data = await sdk.collect();
    expect(sum(data, 'session.created')).toBe(1);
    expect(sum(data, 'session.regenerated')).toBe(1);
    expect(points(data, 'session.store.operation.duration')).toEqual([]);
  });
});
