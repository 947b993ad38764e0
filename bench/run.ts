/**
 * The benchmark orchestrator: `npm run bench` (full run, writes docs/benchmarks.md and
 * docs/benchmarks.svg) or `npm run bench -- --quick` (one round, prints only).
 *
 * Each app runs in its own process (pinned to CPU 0 where `taskset` exists) and is driven by
 * autocannon in another process (pinned to CPU 1). Options: --quick, --rounds=N, --duration=S,
 * --warmup=S, --first-warmup=S, --connections=N, --lost-amount=N, --apps=name,name,
 * --scenarios=read,change,read-100k, --no-memory, --no-lost (--memory, --lost in a quick run),
 * --no-write, --no-profile, --rate-express=N, --rate-fastify=N (or BENCH_RATE_EXPRESS,
 * BENCH_RATE_FASTIFY), --rate-duration=S, --only-memory (just the memory part: bytes per session
 * and the 1M-session sweep); --render=bench-dist/results-full.json prints (and, for a full run,
 * writes the docs) from the results of an earlier run without measuring again.
 *
 * What it judges: the app's CPU per request at equal load. Per-request CPU depends on the request
 * rate (at saturation each app runs at its own rate, and batching changes what a request costs),
 * so every one-session case is measured twice after its warm-up: for --rate-duration seconds at
 * the adapter's fixed rate (autocannon's `overallRate`; defaults 2,500 req/s Express, 4,000
 * Fastify, rates every app of the adapter sustains on the 2-core machine the docs are made on),
 * and for --duration seconds at saturation. The targets are judged on the app's CPU µs per
 * request at the fixed rate above bare and above the floor (hand-written sessions in memory, on
 * Redis and on PostgreSQL), per round, median and IQR over the rounds; the saturation run gives
 * throughput and latency beside them. A case whose app did not sustain the rate is flagged. The
 * same-work apps (the floor's work in the library's shape, by hand: bench/apps/minimal-same.ts)
 * run by default too: the MemoryStore rows say how far the library is above them.
 *
 * One scenario in about a minute, for a developer: `npm run bench -- --quick --scenarios=read
 * --apps=express-sessionkit-memory` (one round of 2 + 2 s per case; bare, the floor and the same-work app come along,
 * no memory part, no lost updates, no profile, no docs written).
 *
 * `npm run bench -- --profile=<scenario> [--apps=name,name] [--profile-seconds=S]` measures nothing
 * else: it runs each app (default: the nestjs-sessionkit MemoryStore apps of both adapters) under
 * `node --cpu-prof`, drives the scenario, and prints the CPU per request by category and the
 * functions with the most self time (profiles in bench-dist/profiles/). A full run ends with one
 * such pass per scenario (read, change, first, none) on both adapters, for docs/benchmarks.md.
 *
 * Scenarios: the one-session cases (none, read, change, first) and the many-sessions cases
 * (read-100k, change-100k: 100,000 sessions seeded over HTTP, each request carrying the next
 * cookie). For every app on Redis the harness zeroes Redis's command counters before each
 * measured run and reads them, and Redis's CPU time, after it.
 *
 * Defaults: 5 rounds of 3 s at the fixed rate and 3 s at saturation per case after a 1 s warm-up (2 s for an app's first case), run by
 * one load-generator process per case; five rounds give a median and an interquartile range that
 * one outlying round cannot move much, and the short cases keep a full run with every app near
 * an hour on a 2-core machine. The run prints its time estimate when it starts. Each round
 * runs the apps in a rotated order, forward in odd rounds and reversed in even ones, so slow drift
 * spreads evenly over the apps. --quick: one round of 2 s runs, no memory part, no lost updates,
 * no profile pass, no docs written.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  APPS,
  type AdapterName,
  type AppSpec,
  type FixedRates,
  DATABASE_URL,
  type LoadJob,
  LOCKED_ROUTE_ENV,
  type LoadResult,
  MYSQL_URL,
  PG_SCHEMA,
  REDIS_PREFIX,
  REDIS_URL,
  type ReadyMessage,
  SCENARIOS,
  type Scenario,
  type ScenarioName,
  appSpec,
  floorStoreOf,
  isBare,
  keepsNoSessions,
  onSql,
  rateOf,
  redisPrefixOf,
  scenarioApplies,
  BARE_COOKIE,
  createSession,
  isMemorySameWork,
  stopChild,
} from './common.js';
import { seedSessions } from './client.js';
import { type ProfileResult, analyseProfile, profileConsoleTable } from './profile.js';
import { type RedisRunStats, startRedisStats } from './redis-stats.js';
import { type BytesResult, type MillionResult, deleteKeysUnder } from './memory.js';
import { connectMysql, connectPostgres, connectRedis, dropMysqlTable, dropMysqlTables, dropTable, withRunNamespaces } from './namespaces.js';
import { type BenchReport, type CaseRound, type LostResult, type SeedingResult, consoleReport, markdownReport, summarize, svgChart } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const APP_MAIN = join(here, 'apps/main.js');
const LOADER = join(here, 'loader.js');
const MEMORY = join(here, 'memory.js');

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  rounds: number;
  duration: number;
  warmup: number;
  firstWarmup: number;
  connections: number;
  lostAmount: number;
  apps: string[] | undefined;
  scenarios: string[] | undefined;
  memory: boolean;
  lost: boolean;
  /** Only the memory part: no throughput cases, no lost updates. */
  onlyMemory: boolean;
  write: boolean;
  /** A results JSON of an earlier run to print and write again, measuring nothing. */
  render: string | undefined;
  /** Profile this scenario instead of measuring (`--profile=read`). */
  profile: ScenarioName | undefined;
  /** Seconds of load per profiled case. */
  profileSeconds: number;
  /** Whether a full run ends with its profile pass. */
  profilePass: boolean;
  /** The fixed request rates (req/s, all connections) every app of an adapter is measured at, for CPU per request. */
  rates: FixedRates;
  /** Seconds of the fixed-rate run of each case. */
  rateDuration: number;
}

/**
 * The default fixed rates: what every app of the adapter sustains on the 2-core machine the docs
 * are made on (the slowest apps, on PostgreSQL and MySQL, set them). Override with --rate-express
 * and --rate-fastify, or BENCH_RATE_EXPRESS and BENCH_RATE_FASTIFY.
 */
const DEFAULT_RATE: Record<AdapterName, number> = { express: 2500, fastify: 4000 };

/**
 * The default fixed rate of the apps on PostgreSQL and MySQL (both adapters): below what each of
 * them sustains in the change case on that machine (about 700 req/s, one row updated by every
 * connection). Override with --rate-sql or BENCH_RATE_SQL.
 */
const DEFAULT_SQL_RATE = 500;

function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`Unknown argument ${arg}`);
    flags.set(m[1]!, m[2] ?? 'true');
  }
  const known = ['quick', 'rounds', 'duration', 'warmup', 'first-warmup', 'connections', 'lost-amount', 'apps', 'scenarios', 'no-memory', 'no-lost', 'memory', 'lost', 'no-write', 'only-memory', 'render', 'profile', 'profile-seconds', 'no-profile', 'rate-express', 'rate-fastify', 'rate-sql', 'rate-duration'];
  for (const key of flags.keys()) if (!known.includes(key)) throw new Error(`Unknown option --${key}. Known: ${known.map((k) => `--${k}`).join(' ')}`);
  const quick = flags.has('quick');
  const onlyMemory = flags.has('only-memory');
  if (onlyMemory && (flags.has('no-memory') || flags.has('apps') || flags.has('scenarios'))) throw new Error('--only-memory excludes --no-memory, --apps and --scenarios');
  const num = (key: string, fallback: number, env?: string): number => {
    const value = flags.get(key) ?? (env === undefined ? undefined : process.env[env]);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!(n > 0)) throw new Error(`--${key}${env === undefined ? '' : ` (or ${env})`} needs a positive number`);
    return n;
  };
  const list = (key: string): string[] | undefined => flags.get(key)?.split(',').filter(Boolean);
  const profile = flags.get('profile');
  if (profile !== undefined && !SCENARIOS.some((s) => s.name === profile)) throw new Error(`--profile takes a scenario: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return {
    quick,
    rounds: num('rounds', quick ? 1 : 5),
    duration: num('duration', quick ? 2 : 3),
    warmup: num('warmup', 1),
    firstWarmup: num('first-warmup', 2),
    connections: num('connections', 50),
    lostAmount: num('lost-amount', quick ? 2000 : 10000),
    apps: list('apps'),
    scenarios: list('scenarios'),
    // A quick run measures the cases only, unless --memory or --lost asks for more.
    memory: flags.has('memory') || (!quick && !flags.has('no-memory')),
    lost: !onlyMemory && (flags.has('lost') || (!quick && !flags.has('no-lost'))),
    onlyMemory,
    // A memory-only run has no throughput table: never overwrite the docs with it.
    write: !quick && !onlyMemory && !flags.has('no-write'),
    render: flags.get('render'),
    profile: profile as ScenarioName | undefined,
    profileSeconds: num('profile-seconds', 5),
    profilePass: !quick && !onlyMemory && !flags.has('no-profile'),
    rates: {
      rate: { express: num('rate-express', DEFAULT_RATE.express, 'BENCH_RATE_EXPRESS'), fastify: num('rate-fastify', DEFAULT_RATE.fastify, 'BENCH_RATE_FASTIFY') },
      sqlRate: num('rate-sql', DEFAULT_SQL_RATE, 'BENCH_RATE_SQL'),
    },
    rateDuration: num('rate-duration', quick ? 2 : 3),
  };
}

// ---------------------------------------------------------------- processes

const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

/** CPU pinning: the app on CPU 0, the load generator on CPU 1, where possible. */
interface Pinning {
  enabled: boolean;
  app: string[];
  loader: string[];
  layout: string;
}

function detectPinning(): Pinning {
  const cpus = os.availableParallelism();
  const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  if (hasTaskset && cpus >= 2) {
    return {
      enabled: true,
      app: ['taskset', '-c', '0'],
      loader: ['taskset', '-c', '1'],
      layout: `${cpus} CPUs; app process pinned to CPU 0 (taskset -c 0), autocannon pinned to CPU 1 (taskset -c 1); Redis server and this orchestrator not pinned (the orchestrator is idle while a case runs)`,
    };
  }
  return {
    enabled: false,
    app: [],
    loader: [],
    layout: `${cpus} CPU(s); ${hasTaskset ? 'fewer than 2 CPUs' : 'taskset not found'}: app and autocannon share the CPUs unpinned (figures are less reliable)`,
  };
}

function command(prefix: string[], args: string[]): [string, string[]] {
  return prefix.length === 0 ? [process.execPath, args] : [prefix[0]!, [...prefix.slice(1), process.execPath, ...args]];
}

interface RunningApp {
  spec: AppSpec;
  child: ChildProcess;
  port: number;
  pid: number;
  stderr: () => string;
}

/**
 * Starts `spec`, with the locked route (`@SessionLock()`, "change with lock") only when
 * `scenarios` include it: a `@SessionLock()` handler adds a global guard to every route of the app.
 */
function startApp(spec: AppSpec, pinning: Pinning, scenarios: readonly Scenario[], nodeArgs: string[] = []): Promise<RunningApp> {
  const [cmd, args] = command(pinning.app, [...nodeArgs, APP_MAIN, spec.name]);
  const lockedRoute = scenarios.some((s) => s.name === 'change-lock') ? '1' : '0';
  // The IPC channel carries only the harness's questions about sent Redis commands, never per request.
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, NODE_ENV: 'production', [LOCKED_ROUTE_ENV]: lockedRoute }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${spec.name} did not start within 30 s: ${conciseError(err)}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited with code ${code} before it was ready: ${conciseError(err)}`));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined || !out.includes('\n')) return;
      clearTimeout(timer);
      const ready = JSON.parse(line) as ReadyMessage;
      child.removeAllListeners('exit');
      resolvePromise({ spec, child, port: ready.port, pid: ready.pid, stderr: () => err });
    });
  });
}

/** The line of a child's stderr that names the error (the whole stack is noise in a report). */
function conciseError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(\w*Error\b|Error \[)/.test(l)) ?? lines[lines.length - 1] ?? '(no output)';
}

/** The Redis commands an app's client sent so far, by name (nestjs-sessionkit apps on Redis only). */
function sentCommands(app: RunningApp): Promise<Record<string, number>> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${app.spec.name} did not report its Redis commands`)), 5000);
    const onMessage = (message: unknown): void => {
      if (typeof message !== 'object' || message === null || !('sentCommands' in message)) return;
      clearTimeout(timer);
      app.child.off('message', onMessage);
      resolvePromise((message as { sentCommands: Record<string, number> }).sentCommands);
    };
    app.child.on('message', onMessage);
    app.child.send('sent-commands');
  });
}

function stopApp(app: RunningApp): Promise<void> {
  return stopChild(app.child, 5000);
}

/**
 * Runs a child process and resolves the JSON of the last line it prints. When it prints a line
 * `warm`, awaits `onWarm` and then writes a line to its standard input.
 */
function runJsonChild(argv: [string, string[]], what: string, onWarm?: () => Promise<void>): Promise<unknown> {
  const [cmd, args] = argv;
  const child = spawn(cmd, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let warmed = false;
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (!warmed && /^warm$/m.test(out)) {
      warmed = true;
      void (onWarm ?? (() => Promise.resolve()))().then(
        () => child.stdin.write('go\n'),
        (error: unknown) => {
          err += `\nError: ${error instanceof Error ? error.message : String(error)}`;
          child.kill('SIGKILL');
        },
      );
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.stdin.on('error', () => undefined);
  return new Promise((resolvePromise, reject) => {
    child.on('exit', (code) => {
      child.stdin.destroy();
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line || line === 'warm') return reject(new Error(`${what} failed (${code}): ${conciseError(err)}`));
      resolvePromise(JSON.parse(line));
    });
  });
}

/**
 * Runs the load generator on a job with `runs`: calls `onStart(i)` when it is about to start
 * measured run i and `onDone(i, result)` when that run is over, and lets it go on once each has
 * resolved. Resolves when the loader exits.
 */
function runLoaderRuns(job: LoadJob, pinning: Pinning, onStart: (i: number) => Promise<void>, onDone: (i: number, result: LoadResult) => Promise<void>): Promise<void> {
  const [cmd, args] = command(pinning.loader, [LOADER, JSON.stringify(job)]);
  const child = spawn(cmd, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let failure: string | undefined;
  const handle = (line: string): void => {
    const m = /^(start|done) (\d+)(?: (.*))?$/.exec(line);
    if (m === null) return;
    const i = Number(m[2]);
    const step = m[1] === 'start' ? onStart(i) : onDone(i, JSON.parse(m[3]!) as LoadResult);
    step.then(
      () => child.stdin.write('go\n'),
      (error: unknown) => {
        failure = error instanceof Error ? error.message : String(error);
        child.kill('SIGKILL');
      },
    );
  };
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    let newline: number;
    while ((newline = out.indexOf('\n')) !== -1) {
      handle(out.slice(0, newline));
      out = out.slice(newline + 1);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.stdin.on('error', () => undefined);
  return new Promise((resolvePromise, reject) => {
    child.on('exit', (code) => {
      child.stdin.destroy();
      if (failure !== undefined) return reject(new Error(`load generator stopped: ${failure}`));
      if (code !== 0) return reject(new Error(`load generator failed (${code}): ${conciseError(err)}`));
      resolvePromise();
    });
  });
}

function runLoader(job: LoadJob, pinning: Pinning, onWarm?: () => Promise<void>): Promise<LoadResult> {
  return runJsonChild(command(pinning.loader, [LOADER, JSON.stringify(job)]), 'load generator', onWarm) as Promise<LoadResult>;
}

function runMemory(mode: 'bytes' | 'million', pinning: Pinning): Promise<unknown> {
  return runJsonChild(command(pinning.app, ['--expose-gc', MEMORY, mode]), `memory ${mode}`);
}

let clockTicks: number | undefined;

/** utime + stime of a process, in seconds (from /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

async function readN(app: RunningApp, cookie: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${app.port}/read`, { headers: { cookie } });
  const body = (await res.json()) as { n: number };
  return body.n;
}

// ---------------------------------------------------------------- what the load generator sends

/** The bare apps' stand-in for the i-th distinct session cookie: as long as a real one, all different. */
function bareCookie(i: number): string {
  const tag = i.toString(36);
  return `sid=${'x'.repeat(87 - tag.length)}${tag}`;
}

/**
 * The cookies one running app gets: the one session of the one-session cases (made on first
 * need), and the many sessions of the many-sessions cases (seeded on first need, written to a
 * file the load generator reads).
 */
class ClientState {
  private cookie: string | undefined;
  private cookiesFile: string | undefined;

  constructor(
    private readonly app: RunningApp,
    private readonly seedings: SeedingResult[],
    private readonly round: number,
  ) {}

  async job(scenario: Scenario, connections: number): Promise<(seconds: number) => LoadJob> {
    const url = `http://127.0.0.1:${this.app.port}${scenario.path}`;
    if (scenario.sessions !== undefined) {
      const cookiesFile = await this.many(scenario.sessions);
      return (seconds) => ({ url, method: scenario.method, headers: {}, connections, duration: seconds, cookiesFile });
    }
    const headers: Record<string, string> = {};
    if (scenario.withCookie) {
      // The bare apps get a cookie header of the same size, so requests are byte for byte alike;
      // the floors and the other hand-written sessions get a real one from their /setup like every session app.
      this.cookie ??= keepsNoSessions(this.app.spec) ? BARE_COOKIE : await createSession(this.app.port, this.app.spec.name);
      headers.cookie = this.cookie;
    }
    return (seconds) => ({ url, method: scenario.method, headers, connections, duration: seconds });
  }

  private async many(count: number): Promise<string> {
    if (this.cookiesFile !== undefined) return this.cookiesFile;
    let cookies: string[];
    if (keepsNoSessions(this.app.spec)) {
      cookies = Array.from({ length: count }, (_, i) => bareCookie(i));
    } else {
      log(`  seeding ${count.toLocaleString('en-US')} sessions in ${this.app.spec.name} ...`);
      const seeded = await seedSessions(this.app.port, '/setup', count, SEED_CONCURRENCY);
      cookies = seeded.cookies;
      this.seedings.push({ round: this.round, app: this.app.spec.name, sessions: count, ms: seeded.ms });
      log(`  seeded in ${(seeded.ms / 1000).toFixed(1)} s (${Math.round(count / (seeded.ms / 1000))} sessions/s)`);
    }
    const dir = join(root, 'bench-dist', 'cookies');
    mkdirSync(dir, { recursive: true });
    this.cookiesFile = join(dir, `${this.app.spec.name}.txt`);
    writeFileSync(this.cookiesFile, `${cookies.join('\n')}\n`);
    return this.cookiesFile;
  }
}

/** Concurrent GET /setup requests while seeding the many-sessions cases. */
const SEED_CONCURRENCY = 50;

// ---------------------------------------------------------------- profiles

/** The full run's profile pass: these scenarios on these apps. */
const PROFILED_SCENARIOS: readonly ScenarioName[] = ['read', 'change', 'first', 'none'];
const PROFILED_APPS = ['fastify-sessionkit-memory', 'express-sessionkit-memory'] as const;
/** Sampling interval of the profiles, µs (V8's default is 1000). */
const PROFILE_INTERVAL_US = 250;

const hrtimeUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `spec` under `node --cpu-prof`, drives `scenario` for the profile seconds after a warm-up,
 * and classifies the samples taken while the load ran.
 */
async function profileCase(spec: AppSpec, scenario: Scenario, options: Options, pinning: Pinning, seedings: SeedingResult[]): Promise<ProfileResult> {
  const dir = join(root, 'bench-dist', 'profiles');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${spec.name}-${scenario.name}.cpuprofile`);
  rmSync(file, { force: true });
  const app = await startApp(spec, pinning, [scenario], ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${basename(file)}`, `--cpu-prof-interval=${PROFILE_INTERVAL_US}`]);
  let from: number;
  let to: number;
  let result: LoadResult;
  try {
    const job = await new ClientState(app, seedings, 0).job(scenario, options.connections);
    let start = NaN;
    result = await runLoader({ ...job(options.profileSeconds), warmup: options.firstWarmup }, pinning, () => {
      start = hrtimeUs();
      return Promise.resolve();
    });
    from = start;
    to = hrtimeUs();
  } finally {
    await stopApp(app);
    if (spec.store === 'redis') {
      const connection = await connectRedis();
      if ('redis' in connection) {
        await deleteKeysUnder(connection.redis, redisPrefixOf(spec.name));
        connection.redis.disconnect();
      }
    }
  }
  // The profile is written as the process exits.
  for (let i = 0; i < 50 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(file)) throw new Error(`${spec.name} wrote no profile at ${file}`);
  return analyseProfile(file, root, from, to, result.requests, spec.name, scenario.name);
}

/** `npm run bench -- --profile=<scenario> [--apps=...]`: profiles, prints the category tables, measures nothing else. */
async function profileOnly(options: Options): Promise<void> {
  const scenario = SCENARIOS.find((s) => s.name === options.profile)!;
  const names = options.apps ?? [...PROFILED_APPS];
  const pinning = detectPinning();
  log(`Profiling ${scenario.label} on ${names.join(', ')}: ${options.firstWarmup} s warm-up, ${options.profileSeconds} s profiled, sampling every ${PROFILE_INTERVAL_US} µs; profiles in bench-dist/profiles/`);
  const results: ProfileResult[] = [];
  // The run's own namespaces, as a full run makes them: the apps on PostgreSQL expect their schema.
  await withRunNamespaces(
    names.map((name) => appSpec(name).store),
    async () => {
      for (const name of names) {
        const spec = appSpec(name);
        if (!scenarioApplies(scenario, spec)) {
          log(`  ${name}: the scenario ${scenario.name} does not run on this app`);
          continue;
        }
        const result = await profileCase(spec, scenario, options, pinning, []);
        results.push(result);
        process.stdout.write(`\n${profileConsoleTable(result)}\n`);
      }
    },
  );
  mkdirSync(join(root, 'bench-dist'), { recursive: true });
  writeFileSync(join(root, 'bench-dist', `profile-${scenario.name}.json`), JSON.stringify(results, null, 2));
}

// ---------------------------------------------------------------- environment

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).toString().trim() !== '';
    return dirty ? `${commit} + uncommitted changes` : commit;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------- time estimate

/**
 * Overheads measured on the 2-core VM the docs are made on (quiet machine; a busy one is slower):
 * starting an app process until it listens, starting a load-generator process, sessions made per
 * second while seeding, and the memory part (bytes per session and the 1M-session sweep).
 */
const COST = { appStart: 1.5, loaderStart: 0.5, seedPerSecond: { fastify: 5000, express: 2000 }, memory: 100, lostPerApp: 5, profileExtra: 3 };

/** Seconds the run will take, and how they split. */
function estimateSeconds(apps: readonly AppSpec[], scenarios: readonly Scenario[], options: Options): { total: number; parts: string } {
  let cases = 0;
  let seeding = 0;
  for (const app of apps) {
    const one = scenarios.filter((s) => s.sessions === undefined && scenarioApplies(s, app));
    const many = scenarios.filter((s) => s.sessions !== undefined && scenarioApplies(s, app));
    const extraRate = (isBare(app) || (app.floor === true && app.store === 'none')) && apps.some((a) => a.adapter === app.adapter && onSql(a)) ? options.rateDuration : 0;
    const perCase = options.warmup + options.rateDuration + extraRate + options.duration + COST.loaderStart;
    // One-session cases: the app starts each round. Many sessions: it starts and is seeded once.
    if (one.length > 0) cases += (COST.appStart + (options.firstWarmup - options.warmup) + one.length * perCase) * options.rounds;
    if (many.length > 0) {
      cases += COST.appStart + (options.firstWarmup - options.warmup) + many.length * (perCase - options.rateDuration - extraRate) * options.rounds;
      if (app.library !== 'bare') seeding += many[0]!.sessions! / COST.seedPerSecond[app.adapter];
    }
  }
  const measured = cases + seeding;
  const lost = options.lost ? apps.filter((a) => a.library !== 'bare').length * (COST.lostPerApp + options.warmup) : 0;
  const memory = options.memory ? COST.memory : 0;
  const profile = options.profilePass ? PROFILED_SCENARIOS.length * PROFILED_APPS.length * (COST.appStart + options.firstWarmup + options.profileSeconds + COST.profileExtra) : 0;
  const min = (x: number): string => `${(x / 60).toFixed(1)}`;
  return {
    total: measured + lost + memory + profile,
    parts: `cases ${min(cases)} min, seeding ${min(seeding)}, lost updates ${min(lost)}, memory ${min(memory)}, profiles ${min(profile)}`,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.profile !== undefined) {
    await profileOnly(options);
    return;
  }
  if (options.render !== undefined) {
    const saved = JSON.parse(readFileSync(resolve(options.render), 'utf8')) as BenchReport;
    // Notes of older runs may carry whole stack traces: keep the sentence and the error line.
    saved.notes = saved.notes.map((n) => (n.includes('\n') ? `${n.split('\n')[0]!.replace(/ before it was ready\b.*$/, ' before it was ready')}: ${conciseError(n)}` : n));
    // Summaries are recomputed from the rounds, so results saved before a statistic was added render with it.
    if (saved.rounds.length > 0) saved.summaries = summarize(saved.apps, saved.scenarios, saved.rounds);
    output(saved, saved.mode === 'full' && !process.argv.includes('--no-write'));
    return;
  }
  const started = Date.now();
  const pinning = detectPinning();
  const notes: string[] = [];
  const skipped: string[] = [];

  const redisConnection = await connectRedis();
  const redis = 'redis' in redisConnection ? redisConnection.redis : undefined;
  const redisVersion = 'version' in redisConnection ? redisConnection.version : undefined;
  if (redis === undefined) skipped.push(`Redis apps skipped: no Redis answered on ${REDIS_URL} (${(redisConnection as { error: string }).error}).`);
  const pgConnection = await connectPostgres();
  const pgPool = 'pool' in pgConnection ? pgConnection.pool : undefined;
  const pgVersion = 'version' in pgConnection ? pgConnection.version : undefined;
  if (pgPool === undefined) skipped.push(`PostgreSQL apps skipped: no PostgreSQL answered on ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')} (${(pgConnection as { error: string }).error}).`);
  const mysqlConnection = await connectMysql();
  const mysqlPool = 'pool' in mysqlConnection ? mysqlConnection.pool : undefined;
  const mysqlVersion = 'version' in mysqlConnection ? mysqlConnection.version : undefined;
  if (mysqlPool === undefined) skipped.push(`MySQL/MariaDB apps skipped: nothing answered on ${MYSQL_URL.replace(/\/\/[^@]*@/, '//')} (${(mysqlConnection as { error: string }).error}).`);

  let apps = options.onlyMemory
    ? []
    : APPS.filter((a) => (a.store !== 'redis' || redis !== undefined) && (a.store !== 'postgres' || pgPool !== undefined) && (a.store !== 'mysql' || mysqlPool !== undefined) && (!a.optional || (options.apps?.includes(a.name) ?? false)));
  const scenarios = options.onlyMemory ? [] : options.scenarios === undefined ? SCENARIOS : SCENARIOS.filter((s) => options.scenarios!.includes(s.name));
  if (options.apps !== undefined) {
    for (const name of options.apps) appSpec(name);
    const wanted = apps.filter((a) => options.apps!.includes(a.name));
    // Every figure is relative to the bare app and a floor of the same adapter, so these are
    // measured with the apps named: the bare app, the in-memory floor, the floor of each store
    // named, the bare app with a no-op interceptor when the route without session is measured,
    // the same-work app when a nestjs-sessionkit MemoryStore app is (it explains that app's misses),
    // and the nestjs-sessionkit MemoryStore app when its RedisStore app is named (the Redis target builds on it).
    const base = (a: AppSpec): boolean => {
      const mine = wanted.filter((w) => w.adapter === a.adapter);
      if (mine.length === 0) return false;
      if (a.library === 'nestjs-sessionkit') return a.store === 'memory' && a.option === undefined && mine.some((w) => w.library === 'nestjs-sessionkit' && w.store === 'redis' && w.wraps === undefined);
      if (a.library !== 'bare') return false;
      if (isBare(a)) return true;
      if (a.floor) return a.store === 'none' || mine.some((w) => floorStoreOf(w) === a.store);
      if (a.option === 'sameWork') return isMemorySameWork(a) && mine.some((w) => w.library === 'nestjs-sessionkit' && w.store === 'memory') && scenarios.some((s) => s.name !== 'none' && s.sessions === undefined);
      return a.option === 'noopInterceptor' && scenarios.some((s) => s.name === 'none');
    };
    apps = apps.filter((a) => wanted.includes(a) || base(a));
  }

  const cleanRedis = async (): Promise<void> => {
    if (redis !== undefined) await deleteKeysUnder(redis, REDIS_PREFIX);
  };
  await cleanRedis();

  if (options.onlyMemory) log(`nestjs-sessionkit benchmark (${options.quick ? 'quick' : 'full'}, memory part only)`);
  else {
    const estimate = estimateSeconds(apps, scenarios, options);
    log(
      `nestjs-sessionkit benchmark (${options.quick ? 'quick' : 'full'}): ${apps.length} apps x ${scenarios.length} scenarios x ${options.rounds} round(s); per case a ${options.warmup} s warm-up (${options.firstWarmup} s for an app's first case), ${options.rateDuration} s at a fixed ${options.rates.rate.express} req/s (Express) or ${options.rates.rate.fastify} req/s (Fastify) (${options.rates.sqlRate} req/s for apps on SQL databases, at which the bare app and the floor run too), then ${options.duration} s at saturation; ${options.connections} connections; estimated ${(estimate.total / 60).toFixed(1)} min (${estimate.parts})`,
    );
  }
  log(pinning.layout);
  for (const s of skipped) log(s);

  // Every measured case of every round, and how long each seeding of the many-sessions cases took.
  const rounds: CaseRound[] = [];
  const seedings: SeedingResult[] = [];

  /**
   * Warms up and measures one case of a running app, and records it. A one-session case gets two
   * measured runs in one load-generator process after the warm-up: first at the adapter's fixed
   * rate (the app's CPU per request at equal load, and Redis's counters), then at saturation
   * (throughput and latency, and CPU per request at the app's own rate). A many-sessions case gets
   * the saturation run only (its client has no rate limit).
   */
  const measureCase = async (app: RunningApp, clients: ClientState, scenario: Scenario, round: number, warmup: number): Promise<void> => {
    const spec = app.spec;
    const job = await clients.job(scenario, options.connections);
    const rate = scenario.sessions === undefined ? rateOf(spec, options.rates) : undefined;
    // The bare app and the in-memory floor also run at the SQL rate when apps on SQL databases are measured, as their yardsticks.
    const sqlRate = rate !== undefined && (isBare(spec) || (spec.floor === true && spec.store === 'none')) && apps.some((a) => a.adapter === spec.adapter && onSql(a)) ? options.rates.sqlRate : undefined;
    const countsSent = spec.store === 'redis' && spec.library === 'nestjs-sessionkit' && spec.wraps === undefined;
    const onRedis = spec.store === 'redis' && redis !== undefined;
    const runs: Array<{ duration: number; rate?: number }> = [
      ...(rate === undefined ? [] : [{ duration: options.rateDuration, rate }]),
      ...(sqlRate === undefined || sqlRate === rate ? [] : [{ duration: options.rateDuration, rate: sqlRate }]),
      { duration: options.duration },
    ];
    /** The run whose Redis counters are kept: the fixed-rate one where there is one. */
    const redisRunIndex = 0;
    const results: Array<LoadResult & { cpuUsPerRequest: number }> = [];
    let redisStats: RedisRunStats | undefined;
    let cpuBefore = NaN;
    let sentBefore: Record<string, number> = {};
    let redisRun: (() => Promise<RedisRunStats>) | undefined;
    // The app's CPU time and the Redis counters are read while the load generator waits between runs.
    await runLoaderRuns(
      { ...job(options.duration), warmup, runs },
      pinning,
      async (i) => {
        if (i === redisRunIndex && onRedis) {
          if (countsSent) sentBefore = await sentCommands(app);
          redisRun = await startRedisStats(redis);
        }
        cpuBefore = cpuSeconds(app.pid);
      },
      async (i, result) => {
        const cpuAfter = cpuSeconds(app.pid);
        results[i] = { ...result, cpuUsPerRequest: result.requests > 0 ? ((cpuAfter - cpuBefore) * 1e6) / result.requests : NaN };
        if (i === redisRunIndex && redisRun !== undefined) {
          redisStats = await redisRun();
          if (countsSent) {
            const after = await sentCommands(app);
            redisStats.sent = Object.fromEntries(Object.entries(after).map(([name, n]) => [name, n - (sentBefore[name] ?? 0)]).filter(([, n]) => (n as number) > 0));
          }
        }
      },
    );
    const saturated = results[results.length - 1]!;
    const atRate = rate === undefined ? undefined : results[0]!;
    const atOtherRates = results.slice(rate === undefined ? 0 : 1, -1);
    const { cpuUsPerRequest, ...load } = saturated;
    rounds.push({
      round,
      app: spec.name,
      scenario: scenario.name,
      ...load,
      cpuUsPerRequest,
      ...(atRate === undefined ? {} : { atRate }),
      ...(atOtherRates.length === 0 ? {} : { atOtherRates }),
      ...(redisStats === undefined ? {} : { redis: redisStats }),
    });
    const redisRequests = atRate?.requests ?? saturated.requests;
    const redisText =
      redisStats === undefined || redisRequests === 0
        ? ''
        : `  redis ${(Object.values(redisStats.calls).reduce((a, b) => a + b, 0) / redisRequests).toFixed(2)} cmd/req ${(redisStats.cpuUs / redisRequests).toFixed(0)} us/req`;
    const failed = (r: LoadResult): number => r.non2xx + r.errors + r.timeouts;
    const rateText = results
      .slice(0, -1)
      .map((r) => `at ${r.rate} req/s: ${Math.round(r.rps).toString().padStart(5)} req/s cpu ${r.cpuUsPerRequest.toFixed(0).padStart(4)} us/req | `)
      .join('');
    log(
      `  round ${round}  ${spec.name.padEnd(32)} ${scenario.name.padEnd(11)} ${rateText}saturated: ${Math.round(saturated.rps).toString().padStart(6)} req/s  p50 ${saturated.p50} ms  p99 ${saturated.p99} ms  cpu ${cpuUsPerRequest.toFixed(0)} us/req  loader ${Math.round(saturated.loaderCpuShare * 100)}%${redisText}` +
        (failed(saturated) + (atRate === undefined ? 0 : failed(atRate)) > 0 ? `  (non-2xx ${saturated.non2xx + (atRate?.non2xx ?? 0)}, errors ${saturated.errors + (atRate?.errors ?? 0)}, timeouts ${saturated.timeouts + (atRate?.timeouts ?? 0)})` : ''),
    );
  };

  /** Stops an app and removes what it stored. */
  const retire = async (app: RunningApp): Promise<void> => {
    await stopApp(app);
    if (app.spec.store === 'redis' && redis !== undefined) await deleteKeysUnder(redis, redisPrefixOf(app.spec.name));
    if (app.spec.store === 'postgres') await dropTable(pgPool, app.spec.name);
    if (app.spec.store === 'mysql') await dropMysqlTable(mysqlPool, app.spec.name);
  };

  /** Round r's order of `list`: rotated by r - 1, forward in odd rounds and reversed in even ones. */
  const orderOf = <T>(list: readonly T[], round: number): T[] => {
    const rotated = list.map((_, i) => list[(i + round - 1) % list.length]!);
    return (round - 1) % 2 === 0 ? rotated : rotated.reverse();
  };

  // The one-session cases: every app starts afresh each round.
  const oneSession = scenarios.filter((s) => s.sessions === undefined);
  for (let round = 1; round <= options.rounds && oneSession.length > 0; round++) {
    // Rotate the order each round and alternate its direction (forward in rounds 1, 3, 5, ...,
    // reversed in rounds 2, 4, ...), so slow drift (thermal, noisy neighbours) spreads evenly over all apps.
    for (const spec of orderOf(apps, round)) {
      const mine = oneSession.filter((s) => scenarioApplies(s, spec));
      if (mine.length === 0) continue;
      let app: RunningApp;
      try {
        app = await startApp(spec, pinning, mine);
      } catch (error) {
        notes.push(`Round ${round}: ${spec.name} did not start: ${error instanceof Error ? error.message : String(error)}`);
        log(`  ${notes[notes.length - 1]}`);
        continue;
      }
      try {
        const clients = new ClientState(app, seedings, round);
        let first = true;
        for (const scenario of mine) {
          await measureCase(app, clients, scenario, round, first ? options.firstWarmup : options.warmup);
          first = false;
        }
      } catch (error) {
        notes.push(`Round ${round}: ${spec.name} failed: ${error instanceof Error ? error.message : String(error)}`);
        log(`  ${notes[notes.length - 1]}`);
      } finally {
        await retire(app);
      }
    }
  }

  // The many-sessions cases: seeding 100k sessions costs an app as long as 100k first visits, so
  // each app starts and is seeded once, and all of them stay up (idle but for their own case)
  // through the rounds, which run the apps in the same rotated, alternating order.
  const manySessions = scenarios.filter((s) => s.sessions !== undefined);
  const manyApps = apps.filter((a) => manySessions.some((s) => scenarioApplies(s, a)));
  if (manyApps.length > 0) {
    const running = new Map<string, { app: RunningApp; clients: ClientState; warmed: boolean }>();
    try {
      for (const spec of manyApps) {
        try {
          const app = await startApp(spec, pinning, manySessions);
          const clients = new ClientState(app, seedings, 0);
          running.set(spec.name, { app, clients, warmed: false });
          await clients.job(manySessions[0]!, options.connections);
        } catch (error) {
          notes.push(`Many sessions: ${spec.name} failed: ${error instanceof Error ? error.message : String(error)}`);
          log(`  ${notes[notes.length - 1]}`);
        }
      }
      for (let round = 1; round <= options.rounds; round++) {
        for (const spec of orderOf(manyApps, round)) {
          const entry = running.get(spec.name);
          if (entry === undefined) continue;
          try {
            for (const scenario of manySessions.filter((s) => scenarioApplies(s, spec))) {
              await measureCase(entry.app, entry.clients, scenario, round, entry.warmed ? options.warmup : options.firstWarmup);
              entry.warmed = true;
            }
          } catch (error) {
            notes.push(`Round ${round}: ${spec.name} (many sessions) failed: ${error instanceof Error ? error.message : String(error)}`);
            log(`  ${notes[notes.length - 1]}`);
          }
        }
      }
    } finally {
      for (const { app } of running.values()) await retire(app);
    }
  }

  // Where the CPU of a nestjs-sessionkit request goes: one short profiled run per scenario and adapter.
  const profiles: ProfileResult[] = [];
  if (options.profilePass) {
    for (const scenario of SCENARIOS.filter((s) => PROFILED_SCENARIOS.includes(s.name))) {
      for (const name of PROFILED_APPS) {
        const spec = apps.find((a) => a.name === name);
        if (spec === undefined) continue;
        try {
          profiles.push(await profileCase(spec, scenario, options, pinning, seedings));
          log(`  profile  ${spec.name.padEnd(26)} ${scenario.name.padEnd(11)} ${profiles[profiles.length - 1]!.totalUs.toFixed(0)} us/req sampled`);
        } catch (error) {
          notes.push(`Profile of ${spec.name}, ${scenario.name} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
  }

  // Lost updates: one session, many connections, the changing route, a fixed number of requests.
  const lost: LostResult[] = [];
  if (options.lost) {
    for (const spec of apps.filter((a) => a.library !== 'bare')) {
      let app: RunningApp;
      try {
        app = await startApp(spec, pinning, []);
      } catch (error) {
        notes.push(`Lost updates: ${spec.name} did not start: ${error instanceof Error ? error.message : String(error)}`);
        continue;
      }
      try {
        const change = SCENARIOS.find((s) => s.name === 'change') as Scenario;
        const url = `http://127.0.0.1:${app.port}${change.path}`;
        const warmCookie = await createSession(app.port, app.spec.name);
        await runLoader({ url, method: change.method, headers: { cookie: warmCookie }, connections: options.connections, duration: options.warmup }, pinning);
        const cookie = await createSession(app.port, app.spec.name);
        const result = await runLoader({ url, method: change.method, headers: { cookie }, connections: options.connections, amount: options.lostAmount }, pinning);
        const finalValue = await readN(app, cookie);
        const entry: LostResult = { app: spec.name, sent: options.lostAmount, ok: result.status2xx, failed: result.non2xx + result.errors + result.timeouts, finalValue, lost: result.status2xx - finalValue };
        lost.push(entry);
        log(`  lost updates  ${spec.name.padEnd(26)} 2xx ${entry.ok}  final n ${finalValue}  lost ${entry.lost}`);
      } catch (error) {
        notes.push(`Lost updates: ${spec.name} failed: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        await stopApp(app);
        if (spec.store === 'redis' && redis !== undefined) await deleteKeysUnder(redis, redisPrefixOf(spec.name));
        if (spec.store === 'postgres') await dropTable(pgPool, spec.name);
        if (spec.store === 'mysql') await dropMysqlTable(mysqlPool, spec.name);
      }
    }
  }

  let bytes: BytesResult | undefined;
  let million: MillionResult | undefined;
  if (options.memory) {
    try {
      log('  memory: bytes per session ...');
      bytes = (await runMemory('bytes', pinning)) as BytesResult;
      log('  memory: MemoryStore with 1,000,000 sessions ...');
      million = (await runMemory('million', pinning)) as MillionResult;
    } catch (error) {
      notes.push(`Memory measurement failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  await cleanRedis();
  redis?.disconnect();
  await pgPool?.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  await pgPool?.end();
  await dropMysqlTables(mysqlPool);
  await mysqlPool?.end();

  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const report: BenchReport = {
    mode: options.quick ? 'quick' : 'full',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
    machine: `${cpuModel}, ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()} (${os.arch()})`,
    coreLayout: pinning.layout,
    versions: {
      node: process.version,
      'nestjs-sessionkit': `${(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version} (git ${gitDescription()})`,
      '@nestjs/core': packageVersion('@nestjs/core'),
      '@nestjs/platform-express': packageVersion('@nestjs/platform-express'),
      '@nestjs/platform-fastify': packageVersion('@nestjs/platform-fastify'),
      express: packageVersion('express'),
      fastify: packageVersion('fastify'),
      'express-session': packageVersion('express-session'),
      'connect-redis': packageVersion('connect-redis'),
      'connect-pg-simple': packageVersion('connect-pg-simple'),
      pg: packageVersion('pg'),
      'express-mysql-session': packageVersion('express-mysql-session'),
      mysql2: packageVersion('mysql2'),
      redis: packageVersion('redis'),
      '@fastify/session': packageVersion('@fastify/session'),
      '@fastify/cookie': packageVersion('@fastify/cookie'),
      ioredis: packageVersion('ioredis'),
      autocannon: packageVersion('autocannon'),
      'Redis server': redisVersion ?? 'not available',
      'PostgreSQL server': pgVersion ?? 'not available',
      'MySQL/MariaDB server': mysqlVersion ?? 'not available',
    },
    config: { rounds: options.rounds, duration: options.duration, warmup: options.warmup, firstWarmup: options.firstWarmup, connections: options.connections, lostAmount: options.lostAmount, rate: options.rates.rate, sqlRate: options.rates.sqlRate, rateDuration: options.rateDuration },
    notes,
    skipped,
    apps,
    scenarios,
    summaries: summarize(apps, scenarios, rounds),
    rounds,
    lost,
    bytes,
    million,
    seedings,
    profiles,
  };

  mkdirSync(join(root, 'bench-dist'), { recursive: true });
  // A run that writes no docs (--no-write, a partial run) must not replace the results the docs came from.
  const kind = options.onlyMemory ? 'memory' : process.argv.includes('--no-write') ? 'scratch' : report.mode;
  writeFileSync(join(root, 'bench-dist', `results-${kind}.json`), JSON.stringify(report, null, 2));
  output(report, options.write);
}

/** Prints the table and, for a full run, writes docs/benchmarks.md and docs/benchmarks.svg. */
function output(report: BenchReport, write: boolean): void {
  process.stdout.write(consoleReport(report));
  if (write) {
    mkdirSync(join(root, 'docs'), { recursive: true });
    writeFileSync(join(root, 'docs', 'benchmarks.md'), markdownReport(report));
    writeFileSync(join(root, 'docs', 'benchmarks.svg'), svgChart(report));
    log('Wrote docs/benchmarks.md and docs/benchmarks.svg');
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
