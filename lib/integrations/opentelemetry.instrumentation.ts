import type { Attributes, Context, Counter, Histogram, ObservableResult, Span, Tracer } from '@opentelemetry/api';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { SessionRuntime, type SessionRuntimeTelemetry } from '../core/session.runtime.js';
import type { SessionHandle } from '../core/session.handle.js';
import type { SessionContext } from '../core/session.context.js';
import type { SessionEvent } from '../core/session.events.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import type { SessionService } from '../session.service.js';
import { CookieStore } from '../stores/cookie.store.js';
import { MemoryStore } from '../stores/memory.store.js';
import type { SessionStore } from '../stores/session-store.interface.js';
import { INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, type OpenTelemetryApi, loadOpenTelemetry } from './opentelemetry.api.js';
import { type StoreOperation, instrumentedStore } from './opentelemetry.store.js';

/** What a `session.load` or `session.commit` span learns from the store calls made inside it. */
interface Scope {
  readonly kind: 'load' | 'commit';
  /** The tracer the scope started with: the commit span may start later. */
  readonly tracer: Tracer;
  /** The context the scope started in: its span's parent. */
  readonly parent: Context;
  /** `performance.now()` when the scope started: a commit span starts only at its first store call, dated back to here. */
  readonly start: number;
  span: Span | undefined;
  /** The context of `span`, for the store calls and child spans inside it. */
  inner: Context | undefined;
  /** Load: whether the store was asked and had a record. */
  looked: boolean;
  found: boolean;
  bytesRead: number;
  /** Commit: the writes made, in order, and their bytes. */
  writes: StoreOperation[];
  bytesWritten: number;
  /** The store's own error, which the runtime wraps in a 503: the span records the cause. */
  error: unknown;
}

const WRITES: ReadonlySet<StoreOperation> = new Set(['set', 'patch', 'touch', 'move', 'destroy']);

/** The span a store call gets of its own; the others are recorded on their load or commit span. */
const OWN_SPAN: Record<StoreOperation, string> = {
  get: 'session.load',
  set: 'session.commit',
  patch: 'session.commit',
  touch: 'session.commit',
  move: 'session.regenerate',
  destroy: 'session.destroy',
  listByUser: 'session.listByUser',
  destroyByUser: 'session.destroyByUser',
};

/** `session.store` values of the stores we know, and the `db.system` of their servers. */
const KINDS: Record<string, [kind: string, dbSystem?: string]> = {
  MemoryStore: ['memory'],
  RedisStore: ['redis', 'redis'],
  PostgresStore: ['postgres', 'postgresql'],
  MysqlStore: ['mysql', 'mysql'],
  CookieStore: ['cookie'],
  ExpressSessionStore: ['express-session'],
};

/** The `session.store` (and `db.system`) of a store: that of the first known class in its chain (a subclass of RedisStore is Redis), else its class name, else `custom`. */
function storeKind(store: SessionStore): [kind: string, dbSystem?: string] {
  for (let proto: unknown = Object.getPrototypeOf(store); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const known = KINDS[(proto as { constructor: { name: string } }).constructor.name];
    if (known !== undefined) return known;
  }
  const name = store.constructor?.name;
  return [name && name !== 'Object' ? name : 'custom'];
}

/** A low-cardinality name for an error (OpenTelemetry's `error.type`): its code, else its class. */
export function errorType(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '_OTHER';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.length > 0) return code;
  const name = (error as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name.length > 0 && name !== 'Object' ? name : '_OTHER';
}

/** Bytes of a value as JSON, what a store reads or writes for it (only computed while tracing). */
export function jsonBytes(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * Spans and metrics of the session layer (internal). It wraps rather than edits: the store the
 * runtime calls is replaced by {@link instrumentedStore}, and the runtime's `read` and `commit`
 * (the seams where a request's session is loaded and written) are wrapped on the instance, so the
 * core code knows nothing of OpenTelemetry. With no SDK registered each wrapper costs a check of
 * the global tracer provider and nothing else: no span, no context switch, no attribute object.
 */
export class SessionTelemetry implements SessionRuntimeTelemetry {
  private readonly scopeKey: symbol;
  /** `session.store` and `db.system`: on every span and metric point. */
  readonly base: Attributes;
  private providerSeen: unknown;
  private tracerOf: Tracer | undefined;
  private readonly metrics: SessionMetrics | undefined;

  constructor(
    private readonly api: OpenTelemetryApi,
    readonly includeHandle: boolean,
    store: SessionStore,
    countSessions: boolean,
  ) {
    this.scopeKey = api.createContextKey('nestjs-sessionkit.scope');
    const [kind, dbSystem] = storeKind(store);
    this.base = dbSystem === undefined ? { 'session.store': kind } : { 'session.store': kind, 'db.system': dbSystem };
    this.metrics = SessionMetrics.create(api, this.base, store, countSessions);
  }

  /**
   * The tracer, or `undefined` while no SDK is registered. The global provider is a proxy whose
   * delegate is set when an SDK registers (before or after this module starts): the tracer is
   * looked up again only when that delegate changes.
   */
  tracer(): Tracer | undefined {
    const provider = this.api.trace.getTracerProvider() as ReturnType<OpenTelemetryApi['trace']['getTracerProvider']> & Partial<ProxyLike>;
    const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
    if (delegate !== this.providerSeen) {
      this.providerSeen = delegate;
      this.tracerOf =
        typeof provider.getDelegateTracer === 'function'
          ? provider.getDelegateTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION)
          : provider.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    }
    return this.tracerOf;
  }

  /** True when store calls must be timed or traced. */
  get active(): boolean {
    return this.metrics !== undefined || this.tracer() !== undefined;
  }

  /** Wraps the runtime's load and commit, and gives it the instrumented store. */
  instrument(runtime: SessionRuntime): void {
    if (!(runtime.store instanceof CookieStore)) {
      // The runtime checked the store's class in its constructor; from here on it calls the wrapper.
      (runtime as { store: SessionStore }).store = instrumentedStore(runtime.store, this);
    }
    const { read, readNow, commit, commitNow } = runtime;
    // Every argument passes through: the wrapper must not change what the runtime does. Called
    // with their receiver rather than bound, and without a rest array: this runs on every request,
    // mostly with no SDK registered.
    runtime.read = (context: SessionContext, adopt?: boolean) => {
      const tracer = this.tracer();
      return tracer === undefined ? read.call(runtime, context, adopt) : this.load(tracer, () => read.call(runtime, context, adopt));
    };
    // A read done at once has no span and no metrics: offered only while there are none to make.
    runtime.readNow = (context: SessionContext) => (this.active ? undefined : readNow.call(runtime, context));
    runtime.commit = (session: SessionHandle) => {
      const tracer = this.tracer();
      if (tracer === undefined) {
        return this.metrics === undefined
          ? commit.call(runtime, session)
          : commit.call(runtime, session).catch((error: unknown) => {
              this.metrics!.commitFailed(error);
              throw error;
            });
      }
      return this.commit(tracer, session, () => commit.call(runtime, session));
    };
    // A commit done at once has no span and no metrics: offered only while there are none to make.
    runtime.commitNow = (session: SessionHandle) => (this.active ? undefined : commitNow.call(runtime, session));
    runtime.telemetry = this;
    if (this.metrics !== undefined) runtime.events.forward((event) => this.metrics!.count(event));
  }

  /** Stops observing the store: a closed app's gauge must not keep querying it. */
  shutdown(): void {
    this.metrics?.shutdown();
  }

  /** Wraps `destroyByUser` in a `session.destroyByUser` span (its store calls are the wrapped store's). */
  instrumentService(service: SessionService): void {
    const destroyByUser = service.destroyByUser.bind(service);
    service.destroyByUser = (...args) => {
      const tracer = this.tracer();
      if (tracer === undefined) return destroyByUser(...args);
      const parent = this.api.context.active();
      const span = tracer.startSpan('session.destroyByUser', { attributes: this.base }, parent);
      return this.api.context.with(this.api.trace.setSpan(parent, span), () => destroyByUser(...args)).then(
        (count) => {
          span.setAttribute('session.count', count);
          span.end();
          return count;
        },
        (error: unknown) => {
          this.fail(span, error);
          span.end();
          throw error;
        },
      );
    };
  }

  private newScope(kind: Scope['kind'], tracer: Tracer): Scope {
    return { kind, tracer, parent: this.api.context.active(), start: performance.now(), span: undefined, inner: undefined, looked: false, found: false, bytesRead: 0, writes: [], bytesWritten: 0, error: undefined };
  }

  /** `session.load` around the runtime's read: the outcome comes from the session it resolves and the store calls inside. */
  private load(tracer: Tracer, read: () => Promise<SessionHandle>): Promise<SessionHandle> {
    const scope = this.newScope('load', tracer);
    const span = (scope.span = tracer.startSpan('session.load', { attributes: this.base }, scope.parent));
    scope.inner = this.api.trace.setSpan(scope.parent, span).setValue(this.scopeKey, scope);
    return this.api.context.with(scope.inner, read).then(
      (session) => {
        // A record the runtime then did not use had expired by its clock; CookieStore marks an expired cookie for clearing.
        const outcome = session.inStore ? 'hit' : scope.found || session.cookieToClear ? 'expired' : scope.looked ? 'miss' : 'new';
        span.setAttribute('session.outcome', outcome);
        if (scope.looked) span.setAttribute('session.bytes_read', scope.bytesRead);
        if (this.includeHandle && session.inStore) span.setAttribute('session.handle', session.handle);
        span.end();
        return session;
      },
      (error: unknown) => {
        this.fail(span, scope.error ?? error);
        span.end();
        throw error;
      },
    );
  }

  /** `session.commit` around the runtime's commit, started only if the commit reaches the store (a read-only request makes none). */
  private commit(tracer: Tracer, session: SessionHandle, commit: () => Promise<void>): Promise<void> {
    const scope = this.newScope('commit', tracer);
    return this.api.context.with(scope.parent.setValue(this.scopeKey, scope), commit).then(
      () => {
        if (scope.span !== undefined) {
          if (this.includeHandle && session.inStore) scope.span.setAttribute('session.handle', session.handle);
          this.endCommit(scope);
        }
      },
      (error: unknown) => {
        this.metrics?.commitFailed(error);
        // A commit that failed before any store call (a value too large) still gets its span.
        const span = this.commitSpan(scope);
        this.fail(span, scope.error ?? error);
        this.endCommit(scope);
        throw error;
      },
    );
  }

  private commitSpan(scope: Scope): Span {
    if (scope.span === undefined) {
      // Dated back to the start of the commit: the first store call may come after some work.
      const span = (scope.span = scope.tracer.startSpan('session.commit', { attributes: this.base, startTime: scope.start }, scope.parent));
      scope.inner = this.api.trace.setSpan(scope.parent, span).setValue(this.scopeKey, scope);
    }
    return scope.span;
  }

  private endCommit(scope: Scope): void {
    const span = scope.span!;
    span.setAttribute('session.write', scope.writes.length === 0 ? 'none' : scope.writes.join(','));
    if (scope.writes.length > 0) span.setAttribute('session.bytes_written', scope.bytesWritten);
    // On the same clock as its given start: without an end time the SDK would take Date.now() (whole milliseconds).
    span.end(performance.now());
  }

  /**
   * Runs one store call (for {@link instrumentedStore}): timed for the duration histogram, and
   * traced as part of its load or commit span, or as a span of its own (`session.regenerate`,
   * `session.destroy`, `session.listByUser`, and a load or commit outside a request's).
   */
  async call<T>(operation: StoreOperation, handle: string | undefined, bytes: (() => number) | undefined, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const tracer = this.tracer();
    let scope: Scope | undefined;
    let span: Span | undefined;
    let context: Context | undefined;
    if (tracer !== undefined) {
      const active = this.api.context.active();
      scope = active.getValue(this.scopeKey) as Scope | undefined;
      let parent = active;
      const written = WRITES.has(operation) ? (bytes?.() ?? 0) : undefined;
      if (scope?.kind === 'commit') {
        this.commitSpan(scope);
        parent = scope.inner!;
        if (written !== undefined) {
          scope.writes.push(operation);
          scope.bytesWritten += written;
        }
      }
      const own = !((scope?.kind === 'load' && operation === 'get') || (scope?.kind === 'commit' && (operation === 'get' || operation === 'set' || operation === 'patch' || operation === 'touch')));
      if (own) {
        // The scope is not passed on: a store call inside this span is not the load's or commit's own.
        span = tracer.startSpan(OWN_SPAN[operation], { attributes: this.base }, parent);
        if (this.includeHandle && handle !== undefined) span.setAttribute('session.handle', handle);
        if (written !== undefined && operation !== 'destroy') span.setAttribute('session.bytes_written', written);
        context = this.api.trace.setSpan(parent, span);
      } else context = scope?.inner;
    }
    try {
      const result = context === undefined ? await work() : await this.api.context.with(context, work);
      if (tracer !== undefined) this.traced(operation, result, scope, span);
      this.metrics?.duration(operation, performance.now() - started, undefined);
      return result;
    } catch (error) {
      if (scope !== undefined) scope.error ??= error;
      if (span !== undefined) {
        this.fail(span, error);
        span.end();
      }
      this.metrics?.duration(operation, performance.now() - started, error);
      throw error;
    }
  }

  /** Records what a store call resolved on its span, or on its load span. */
  private traced(operation: StoreOperation, result: unknown, scope: Scope | undefined, span: Span | undefined): void {
    if (operation === 'get') {
      const record = result as { data: unknown } | undefined;
      const bytes = record === undefined ? 0 : jsonBytes(record.data);
      if (scope?.kind === 'load') {
        scope.looked = true;
        scope.found = record !== undefined;
        scope.bytesRead += bytes;
      } else if (span !== undefined) {
        span.setAttribute('session.outcome', record === undefined ? 'miss' : 'hit');
        span.setAttribute('session.bytes_read', bytes);
      }
    } else if (span !== undefined) {
      if (operation === 'move') span.setAttribute('session.outcome', result === false ? 'gone' : 'moved');
      else if (operation === 'patch') span.setAttribute('session.outcome', result === false ? 'gone' : 'patched');
      else if (operation === 'listByUser' && Array.isArray(result)) span.setAttribute('session.count', result.length);
    }
    span?.end();
  }

  /** Marks a span failed, as OpenTelemetry's conventions ask: status, `error.type`, and the exception. */
  fail(span: Span, error: unknown): void {
    span.setAttribute('error.type', errorType(error));
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
}

/** Ends the instrumentation's work when the app shuts down (internal). */
@Injectable()
export class SessionTelemetryShutdown implements OnApplicationShutdown {
  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {}

  onApplicationShutdown(): void {
    this.runtime.telemetry?.shutdown();
  }
}

/** The part of `ProxyTracerProvider` used to tell whether an SDK is registered. */
interface ProxyLike {
  getDelegate(): unknown;
  getDelegateTracer(name: string, version?: string): Tracer | undefined;
}

/** Counters, the duration histogram and the live-session gauge (internal). */
class SessionMetrics {
  private readonly created: Counter;
  private readonly destroyed: Counter;
  private readonly regenerated: Counter;
  private readonly expired: Counter;
  private readonly commitFailures: Counter;
  private readonly operationDuration: Histogram;
  /** Attributes of a successful call per operation, made once. */
  private readonly succeeded = new Map<StoreOperation, Attributes>();
  private readonly byRequest: Attributes;
  private readonly byService: Attributes;

  /** The metrics, or `undefined` when no meter provider is registered (checked once, at startup). */
  static create(api: OpenTelemetryApi, base: Attributes, store: SessionStore, countSessions: boolean): SessionMetrics | undefined {
    const meter = api.metrics.getMeterProvider().getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    // Without an SDK the API hands out its own no-op meter: nothing to record into.
    if (Object.getPrototypeOf(meter) === Object.getPrototypeOf(api.createNoopMeter())) return undefined;
    const metrics = new SessionMetrics(meter, base);
    const count = store instanceof MemoryStore ? async () => store.size : countSessions && typeof store.countSessions === 'function' ? () => store.countSessions!() : undefined;
    if (count !== undefined) {
      const gauge = meter.createObservableGauge('session.live', { description: 'Sessions the store holds now.', unit: '{session}' });
      const observe = async (result: ObservableResult) => {
        // A store that cannot answer reports nothing this time: its failures show on spans and on the duration histogram.
        const value = await count().catch(() => undefined);
        if (value !== undefined) result.observe(value, base);
      };
      gauge.addCallback(observe);
      metrics.shutdown = () => gauge.removeCallback(observe);
    }
    return metrics;
  }

  /** Removes the gauge's callback, if any. */
  shutdown: () => void = () => undefined;

  private constructor(
    meter: ReturnType<OpenTelemetryApi['metrics']['getMeter']>,
    private readonly base: Attributes,
  ) {
    const counter = (name: string, description: string) => meter.createCounter(name, { description, unit: '{session}' });
    this.created = counter('session.created', 'Sessions first stored.');
    this.destroyed = counter('session.destroyed', 'Sessions destroyed: by their own request (logout) or by SessionService (revoked).');
    this.regenerated = counter('session.regenerated', 'Sessions moved to a new id (regenerate(), at login).');
    this.expired = counter('session.expired', 'Expired sessions that a request still brought.');
    this.commitFailures = meter.createCounter('session.commit.failures', { description: 'Commits (session writes) that failed.', unit: '{commit}' });
    this.operationDuration = meter.createHistogram('session.store.operation.duration', {
      description: 'Duration of session store calls.',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] },
    });
    this.byRequest = { ...base, 'session.destroy.source': 'request' };
    this.byService = { ...base, 'session.destroy.source': 'service' };
  }

  count(event: SessionEvent): void {
    switch (event.type) {
      case 'created':
        return this.created.add(1, this.base);
      case 'regenerated':
        return this.regenerated.add(1, this.base);
      case 'expired':
        return this.expired.add(1, this.base);
      case 'destroyed':
        return this.destroyed.add(1, this.byRequest);
      case 'revoked':
        return this.destroyed.add(1, this.byService);
    }
  }

  commitFailed(error: unknown): void {
    this.commitFailures.add(1, { ...this.base, 'error.type': errorType(error) });
  }

  duration(operation: StoreOperation, ms: number, error: unknown): void {
    let attributes = error === undefined ? this.succeeded.get(operation) : { ...this.base, 'session.store.operation': operation, 'error.type': errorType(error) };
    if (attributes === undefined) this.succeeded.set(operation, (attributes = { ...this.base, 'session.store.operation': operation }));
    this.operationDuration.record(ms / 1000, attributes);
  }
}

/**
 * The session runtime for `SessionModule`, instrumented when `@opentelemetry/api` is installed and
 * telemetry is not turned off (internal).
 */
export async function instrumentedRuntime(options: ResolvedSessionOptions, store: SessionStore): Promise<SessionRuntime> {
  const runtime = new SessionRuntime(options, store);
  const api = options.telemetry.enabled ? await loadOpenTelemetry() : undefined;
  if (api !== undefined) new SessionTelemetry(api, options.telemetry.includeHandle, store, options.telemetry.countSessions).instrument(runtime);
  return runtime;
}
