/**
 * What the library adds to one request, measured in-process without sockets or a load generator
 * (whose noise, ±20% here, hides a few microseconds): `npm run bench:overhead`.
 *
 * Each app is driven with light-my-request (Fastify's own `inject`, and the same for the Express
 * handler), one request at a time, in alternating rounds; the figure is the median over rounds of
 * the microseconds per request, with the interquartile range, and the CPU time of the process
 * per request (which other processes on the machine inflate less). The route without session is
 * the one whose cost must be zero; read, change and first visit show the session path.
 *
 * Environment: ROUNDS (7), PER_ROUND (4000), ADAPTERS (fastify,express), VARIANTS (all: bare,
 * bare-interceptor, sessionkit, no-interceptor, async, preload). The bare app stays in memory per
 * request it served (Nest and light-my-request keep some), so a long run of every variant on both
 * adapters may want `node --max-old-space-size=6144` or one adapter per run.
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

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PER_ROUND = Number(process.env.PER_ROUND ?? 4000);
/** Adapters to measure (`ADAPTERS=fastify`); both by default. */
const ADAPTERS = (process.env.ADAPTERS ?? 'fastify,express').split(',') as Adapter[];

async function start(adapter: Adapter, variant: Variant): Promise<{ app: INestApplication; dispatch: Dispatch }> {
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
  return { app, dispatch };
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo]! + (sorted[Math.ceil(i)]! - sorted[lo]!) * (i - lo);
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const adapter of ADAPTERS) {
    const apps = await Promise.all(VARIANTS.map((v) => start(adapter, v)));
    // A session made by the app, so "read" and "change" find one; the bare app gets a cookie of the same size.
    const cookies = await Promise.all(
      apps.map(async ({ dispatch }, i) => {
        if (VARIANTS[i]!.bare) return `sid=${'x'.repeat(87)}`;
        const res = await dispatch('/setup', 'GET', '');
        return `sid=${res.cookies.find((c) => c.name === 'sid')!.value}`;
      }),
    );
    // `first`: no cookie, so every request starts a session.
    for (const [scenario, method] of [['none', 'GET'], ['read', 'GET'], ['change', 'POST'], ['first', 'GET']] as const) {
      const samples: number[][] = VARIANTS.map(() => []);
      // CPU time of this process per request: unlike wall time, not inflated by other processes
      // competing for the cores (light-my-request's own work is the same for every variant).
      const cpuSamples: number[][] = VARIANTS.map(() => []);
      for (let round = 0; round <= ROUNDS; round++) {
        // Alternate the order, so drift spreads over all variants; round 0 warms up.
        const order = VARIANTS.map((_, i) => (round % 2 === 0 ? i : VARIANTS.length - 1 - i));
        for (const i of order) {
          const { dispatch } = apps[i]!;
          const started = process.hrtime.bigint();
          const cpuStarted = process.cpuUsage();
          for (let n = 0; n < PER_ROUND; n++) {
            const res = await dispatch(`/${scenario}`, method, scenario === 'first' ? '' : cookies[i]!);
            if (res.statusCode !== 200) throw new Error(`${adapter} ${VARIANTS[i]!.label} /${scenario}: ${res.statusCode}`);
          }
          if (round > 0) {
            samples[i]!.push(Number(process.hrtime.bigint() - started) / 1000 / PER_ROUND);
            const cpu = process.cpuUsage(cpuStarted);
            cpuSamples[i]!.push((cpu.user + cpu.system) / PER_ROUND);
          }
        }
      }
      const median = (values: number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);
      const bare = median(samples[0]!);
      const bareCpu = median(cpuSamples[0]!);
      const signed = (n: number): string => (n >= 0 ? '+' : '') + n.toFixed(1);
      VARIANTS.forEach((v, i) => {
        const sorted = [...samples[i]!].sort((a, b) => a - b);
        const wall = quantile(sorted, 0.5);
        const cpu = median(cpuSamples[i]!);
        rows.push(
          `| ${adapter} | ${scenario} | ${v.label} | ${wall.toFixed(1)} | ${quantile(sorted, 0.25).toFixed(1)}–${quantile(sorted, 0.75).toFixed(1)} | ${signed(wall - bare)} | ${cpu.toFixed(1)} | ${signed(cpu - bareCpu)} |`,
        );
      });
    }
    await Promise.all(apps.map(({ app }) => app.close()));
  }
  process.stdout.write(
    `Node ${process.version}, ${ROUNDS} rounds of ${PER_ROUND} sequential requests per variant and scenario, in-process (light-my-request)\n\n` +
      '| adapter | route | app | µs/request (median) | IQR | vs bare | CPU µs/request (median) | CPU vs bare |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n' +
      rows.join('\n') +
      '\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
