/**
 * What the OpenTelemetry instrumentation costs one request, in-process like bench/overhead.ts:
 * `npm run bench:telemetry`. Four apps on MemoryStore, driven one request at a time in
 * alternating rounds (median over rounds of µs per request, with the interquartile range). The
 * time is the process's CPU time (user + system), not the wall clock: on a machine shared with
 * other work, time spent waiting for a core is not the library's.
 *
 * 1. `telemetry off`: `telemetry: { enabled: false }`. The library then neither loads
 *    `@opentelemetry/api` nor wraps anything: the same code path as an app without the API installed.
 * 2. `API, no SDK`: the API installed, no SDK registered (the default options). Compared with 1.
 * 3. `SDK, telemetry off`: a tracer provider (batch span processor, exporter that drops
 *    everything), the AsyncLocalStorage context manager, and a span around each request standing
 *    in for the HTTP instrumentation's: what tracing costs an app before this library adds a span.
 *    Compared with 1.
 * 4. `SDK, telemetry on`: the same plus this library's spans and metrics (a meter provider whose
 *    exporter drops everything). Compared with 3: the price of the session spans and metric points.
 *
 * The SDK is global, so it is registered only while apps 3 and 4 run (and the meter provider
 * while app 4 starts, when the library looks for it).
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, MeterProvider, type PushMetricExporter, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { inject } from 'light-my-request';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryStore, type SessionModuleOptions } from 'nestjs-sessionkit';
import { sessionKitModule } from './apps/sessionkit.js';

type Adapter = 'express' | 'fastify';
type Dispatch = (path: string, method: 'GET' | 'POST', cookie: string) => Promise<{ statusCode: number; cookies: { name: string; value: string }[] }>;

interface Variant {
  label: string;
  options: Partial<SessionModuleOptions>;
  sdk: boolean;
  /** The variant a row is compared with. */
  versus: number;
}

const OFF = { telemetry: { enabled: false } };
const VARIANTS: Variant[] = [
  { label: 'telemetry off (as without the API)', options: OFF, sdk: false, versus: 0 },
  { label: 'API, no SDK', options: {}, sdk: false, versus: 0 },
  { label: 'SDK + request span, telemetry off', options: OFF, sdk: true, versus: 0 },
  { label: 'SDK + request span, telemetry on', options: {}, sdk: true, versus: 2 },
];

const ROUNDS = Number(process.env.ROUNDS ?? 21);
const PER_ROUND = Number(process.env.PER_ROUND ?? 500);

const dropSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };
const dropMetrics: PushMetricExporter = {
  export: (_metrics, done) => done({ code: 0 }),
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
  selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
};
const contextManager = new AsyncLocalStorageContextManager();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropSpans)] });
const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: dropMetrics, exportIntervalMillis: 1_000 })] });

function sdk(on: boolean): void {
  trace.disable();
  context.disable();
  if (on) {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(tracerProvider);
  }
}

/** The HTTP instrumentation's server span, roughly: a span made active for the rest of the request. */
function requestSpan(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  const span = trace.getTracer('bench').startSpan(`${req.method ?? 'GET'} ${req.url ?? '/'}`);
  res.on('finish', () => span.end());
  context.with(trace.setSpan(context.active(), span), next);
}

async function start(adapter: Adapter, variant: Variant): Promise<{ app: INestApplication; dispatch: Dispatch }> {
  // The library looks for a meter provider when its module starts.
  if (variant.sdk && variant.options !== OFF) metrics.setGlobalMeterProvider(meterProvider);
  const app = await NestFactory.create(sessionKitModule(new MemoryStore(), variant.options), adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter(), { logger: false });
  if (variant.sdk) app.use(requestSpan);
  await app.init();
  metrics.disable();
  const instance = app.getHttpAdapter().getInstance() as { ready?: () => Promise<void> };
  if (adapter === 'fastify') await instance.ready!();
  const handler = adapter === 'express' ? (instance as unknown as (req: unknown, res: unknown) => void) : undefined;
  const fastify = instance as unknown as { inject(o: object): Promise<{ statusCode: number; cookies: { name: string; value: string }[] }> };
  const dispatch: Dispatch = (url, method, cookie) => {
    const options = { url, method, headers: { cookie } };
    return (handler ? inject(handler, options) : fastify.inject(options)) as ReturnType<Dispatch>;
  };
  return { app, dispatch };
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo]! + (sorted[Math.ceil(i)]! - sorted[lo]!) * (i - lo);
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const adapter of ['fastify', 'express'] as const) {
    const apps: { app: INestApplication; dispatch: Dispatch }[] = [];
    for (const variant of VARIANTS) apps.push(await start(adapter, variant));
    const cookies = await Promise.all(
      apps.map(async ({ dispatch }) => `sid=${(await dispatch('/setup', 'GET', '')).cookies.find((c) => c.name === 'sid')!.value}`),
    );
    for (const [scenario, method] of [['none', 'GET'], ['read', 'GET'], ['change', 'POST']] as const) {
      const samples: number[][] = VARIANTS.map(() => []);
      for (let round = 0; round <= ROUNDS; round++) {
        // Alternate the order, so drift spreads over all variants; round 0 warms up.
        const order = VARIANTS.map((_, i) => (round % 2 === 0 ? i : VARIANTS.length - 1 - i));
        for (const i of order) {
          sdk(VARIANTS[i]!.sdk);
          const { dispatch } = apps[i]!;
          const started = process.cpuUsage();
          for (let n = 0; n < PER_ROUND; n++) {
            const res = await dispatch(`/${scenario}`, method, cookies[i]!);
            if (res.statusCode !== 200) throw new Error(`${adapter} ${VARIANTS[i]!.label} /${scenario}: ${res.statusCode}`);
          }
          const used = process.cpuUsage(started);
          if (round > 0) samples[i]!.push((used.user + used.system) / PER_ROUND);
        }
      }
      const medians = samples.map((s) => quantile([...s].sort((a, b) => a - b), 0.5));
      VARIANTS.forEach((v, i) => {
        const sorted = [...samples[i]!].sort((a, b) => a - b);
        const median = medians[i]!;
        const difference = median - medians[v.versus]!;
        const delta = i === 0 ? '' : `${difference >= 0 ? '+' : ''}${difference.toFixed(1)} (vs ${v.versus + 1})`;
        rows.push(`| ${adapter} | ${scenario} | ${i + 1}. ${v.label} | ${median.toFixed(1)} | ${quantile(sorted, 0.25).toFixed(1)}–${quantile(sorted, 0.75).toFixed(1)} | ${delta} |`);
      });
    }
    sdk(false);
    for (const { app } of apps) await app.close();
  }
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  process.stdout.write(
    `Node ${process.version}, ${ROUNDS} rounds of ${PER_ROUND} sequential requests per variant and route, in-process (light-my-request), MemoryStore, process CPU time\n\n` +
      '| adapter | route | app | CPU µs/request (median) | IQR | difference |\n| --- | --- | --- | --- | --- | --- |\n' +
      rows.join('\n') +
      '\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
