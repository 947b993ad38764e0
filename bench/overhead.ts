/**
 * What the library adds to one request, measured in-process without sockets or a load generator
 * (whose noise hides a few microseconds): `npm run bench:overhead`.
 *
 * Each app is driven with light-my-request (Fastify's own `inject`, and the same for the Express
 * handler), one request at a time, in alternating rounds; the figures are the medians over rounds
 * of the wall-clock and CPU microseconds per request, with the interquartile range of the first.
 *
 * What it can show: the cost of the library's code on one request (cookie check, session load,
 * change tracking, commit, `Set-Cookie`) next to the same app without sessions, with no network,
 * no HTTP parser and no load generator in the figure, on one core, with `asyncContext` and
 * `preload` on and off and beside a no-op global interceptor: differences of a microsecond or two
 * between variants are visible.
 * What it cannot show: what a real server pays per request. There are no sockets, no HTTP parsing
 * and no concurrency (one request in flight, so no batching and no contention), light-my-request
 * builds its own request and response objects (on Express the real `http` objects' costs are
 * missing or replaced), and every store is a MemoryStore. The absolute figures are not those of
 * `npm run bench`, only differences between variants measured here mean something; nor can it
 * show memory retention (see below).
 *
 * Bounded memory: light-my-request's stand-in socket finishes every write in a `setImmediate`, and
 * a loop that only awaits inject never lets the event loop reach its check phase, so every
 * request's immediate, and with it the request, the response and their socket (about 9 KB), stayed
 * queued until the loop ended: the heap grew by that much per request (4 GB after about a minute).
 * The loop yields to the event loop every {@link YIELD_EVERY} requests, as a server's event loop
 * does between reads, so the heap stays flat (about 7 MB over 15,000 requests of a bare handler);
 * the yields cost the same in every variant. Round 0 warms up and is not counted.
 *
 * Environment: ROUNDS (7), PER_ROUND (4000 requests per variant, scenario and round), VARIANTS
 * (all: bare, bare-interceptor, sessionkit, no-interceptor, async, preload), ADAPTERS
 * (fastify,express), SCENARIOS (none,read,change,first).
 */
import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { inject } from 'light-my-request';
import { MemoryStore, type SessionModuleOptions } from 'nestjs-sessionkit';
import { BareAppModule, BareInterceptedAppModule } from './apps/bare.js';
import { sessionKitModule } from './apps/sessionkit.js';

type Adapter = 'express' | 'fastify';
type Dispatch = (path: string, method: 'GET' | 'POST', cookie: string) => Promise<{ statusCode: number; cookies: { name: string; value: string }[] }>;

interface Variant {
  /** What `VARIANTS=` takes. */
  key: string;
  label: string;
  options?: Partial<SessionModuleOptions>;
  /** A bare app (no sessions): the plain one, or with a no-op global interceptor. */
  bare?: typeof BareAppModule;
}

const ALL_VARIANTS: Variant[] = [
  { key: 'bare', label: 'bare', bare: BareAppModule },
  { key: 'bare-interceptor', label: 'bare + no-op global interceptor', bare: BareInterceptedAppModule },
  { key: 'sessionkit', label: 'sessionkit' },
  { key: 'no-interceptor', label: 'sessionkit, globalInterceptor: false', options: { globalInterceptor: false } },
  { key: 'async', label: 'sessionkit, asyncContext: true', options: { asyncContext: true } },
  { key: 'preload', label: 'sessionkit, preload: true', options: { preload: true } },
];
/** `VARIANTS=bare,bare-interceptor,sessionkit,no-interceptor` measures only those (bare always, first: the others are compared to it). */
const wanted = process.env.VARIANTS?.split(',');
const VARIANTS = ALL_VARIANTS.filter((v) => v.key === 'bare' || wanted === undefined || wanted.includes(v.key));

const SCENARIOS = [
  ['none', 'GET'],
  ['read', 'GET'],
  ['change', 'POST'],
  ['first', 'GET'],
] as const;

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PER_ROUND = Number(process.env.PER_ROUND ?? 4000);
const ADAPTERS = (process.env.ADAPTERS ?? 'fastify,express').split(',') as Adapter[];
/** Requests between two yields to the event loop (see the header). */
const YIELD_EVERY = 64;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const WANTED_SCENARIOS = process.env.SCENARIOS?.split(',');

for (const a of ADAPTERS) if (a !== 'express' && a !== 'fastify') throw new Error(`ADAPTERS takes express and fastify, not "${a}"`);
for (const s of WANTED_SCENARIOS ?? []) if (!SCENARIOS.some(([name]) => name === s)) throw new Error(`SCENARIOS takes ${SCENARIOS.map(([n]) => n).join(', ')}, not "${s}"`);

interface Running {
  app: INestApplication;
  dispatch: Dispatch;
  /** The session cookie the app made (a dummy of the same size for the bare apps). */
  cookie: string;
}

async function start(adapter: Adapter, variant: Variant): Promise<Running> {
  const module = variant.bare ?? sessionKitModule(new MemoryStore(), variant.options ?? {});
  const app = await NestFactory.create(module, adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter(), { logger: false });
  await app.init();
  const instance = app.getHttpAdapter().getInstance() as { ready?: () => Promise<void> };
  if (adapter === 'fastify') await instance.ready!();
  const handler = adapter === 'express' ? (instance as unknown as (req: unknown, res: unknown) => void) : undefined;
  const fastify = instance as unknown as { inject(o: object): Promise<{ statusCode: number; cookies: { name: string; value: string }[] }> };
  const dispatch: Dispatch = (url, method, cookie) => {
    const options = { url, method, headers: { cookie } };
    return (handler ? inject(handler, options) : fastify.inject(options)) as ReturnType<Dispatch>;
  };
  // A session made by the app, so "read" and "change" find one; the bare apps get a cookie of the same size.
  let cookie = `sid=${'x'.repeat(87)}`;
  if (variant.bare === undefined) {
    const res = await dispatch('/setup', 'GET', '');
    cookie = `sid=${res.cookies.find((c) => c.name === 'sid')!.value}`;
  }
  return { app, dispatch, cookie };
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo]! + (sorted[Math.ceil(i)]! - sorted[lo]!) * (i - lo);
}

const median = (values: number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);
const signed = (n: number): string => (n >= 0 ? '+' : '') + n.toFixed(1);

async function main(): Promise<void> {
  const rows: string[] = [];
  let peakHeapMb = 0;
  for (const adapter of ADAPTERS) {
    const apps: Running[] = [];
    for (const variant of VARIANTS) apps.push(await start(adapter, variant));
    for (const [scenario, method] of SCENARIOS.filter(([name]) => WANTED_SCENARIOS?.includes(name) ?? true)) {
      const wall: number[][] = VARIANTS.map(() => []);
      // CPU time of this process per request: unlike wall time, not inflated by other processes
      // competing for the cores (light-my-request's own work is the same for every variant).
      const cpu: number[][] = VARIANTS.map(() => []);
      for (let round = 0; round <= ROUNDS; round++) {
        // Alternate the order, so drift spreads over all variants; round 0 warms up.
        const order = VARIANTS.map((_, i) => (round % 2 === 0 ? i : VARIANTS.length - 1 - i));
        for (const i of order) {
          const { dispatch, cookie } = apps[i]!;
          const sent = scenario === 'first' ? '' : cookie;
          const started = process.hrtime.bigint();
          const cpuStarted = process.cpuUsage();
          for (let n = 0; n < PER_ROUND; n++) {
            const res = await dispatch(`/${scenario}`, method, sent);
            if (res.statusCode !== 200) throw new Error(`${adapter} ${VARIANTS[i]!.label} /${scenario}: ${res.statusCode}`);
            if (n % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
          }
          const used = process.cpuUsage(cpuStarted);
          if (round > 0) {
            wall[i]!.push(Number(process.hrtime.bigint() - started) / 1000 / PER_ROUND);
            cpu[i]!.push((used.user + used.system) / PER_ROUND);
          }
          peakHeapMb = Math.max(peakHeapMb, process.memoryUsage().heapUsed / 2 ** 20);
        }
      }
      const bareWall = median(wall[0]!);
      const bareCpu = median(cpu[0]!);
      VARIANTS.forEach((v, i) => {
        const sorted = [...wall[i]!].sort((a, b) => a - b);
        const w = quantile(sorted, 0.5);
        const c = median(cpu[i]!);
        rows.push(
          `| ${adapter} | ${scenario} | ${v.label} | ${w.toFixed(1)} | ${quantile(sorted, 0.25).toFixed(1)}–${quantile(sorted, 0.75).toFixed(1)} | ${signed(w - bareWall)} | ${c.toFixed(1)} | ${signed(c - bareCpu)} |`,
        );
      });
    }
    await Promise.all(apps.map(({ app }) => app.close()));
  }
  process.stdout.write(
    `Node ${process.version}, ${ROUNDS} rounds of ${PER_ROUND} sequential requests per variant and scenario, in-process (light-my-request), yielding to the event loop every ${YIELD_EVERY}; peak JS heap ${peakHeapMb.toFixed(0)} MB\n\n` +
      '| adapter | route | app | µs/request (median) | IQR | vs bare | CPU µs/request (median) | CPU vs bare |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n' +
      rows.join('\n') +
      '\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
