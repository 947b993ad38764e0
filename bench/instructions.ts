/**
 * Instructions per request, counted by valgrind's callgrind:
 * `npm run bench:instructions -- [--apps=a,b] [--scenarios=read,change] [--warmup=N] [--requests=N] [--repeat=N]`.
 *
 * **What it shows.** How many machine instructions an app executes per request, on the main
 * thread (where JavaScript runs) and on all threads (V8's compiler and GC helpers too). Unlike
 * CPU time, the count does not depend on what else the machine does: the same build and inputs
 * give the same count within about 2% from one run to the next, where CPU µs per request on this
 * kind of virtual machine moves by 10–20 µs between rounds. So it tells apart costs of a few
 * thousand instructions (a promise, a copy, a clone in a client library) that `npm run bench`
 * cannot, and says whether a gap in CPU time comes from code executed or from cycles.
 *
 * **What it cannot show.** Time. An instruction that misses the cache costs many cycles; requests
 * that arrive alone (a low fixed rate) find colder caches than requests in a burst, so the same
 * instructions cost more µs at 500 req/s than at saturation. Requests here go one at a time over one
 * keep-alive connection, so nothing is batched. V8 compiles while it warms up: after the default
 * 10,000 requests the other threads have about nothing left to do, while after a few thousand a
 * count can still land in one of two modes tens of thousands of instructions apart (medians over
 * `--repeat` runs; the min and max are printed beside them). Valgrind runs the app about 50 times
 * slower.
 *
 * Each app starts under callgrind (instrumentation off), serves `--warmup` requests of a scenario,
 * then `--requests` requests with instrumentation on; the counts of that window are divided by
 * the requests. Needs valgrind (`apt-get install -y valgrind`), and Redis, PostgreSQL or MySQL for
 * the apps on them, as `npm run bench` does. Writes bench-dist/instructions.json;
 * `--render=<that file>` prints its tables again without measuring.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type AppSpec, BARE_COOKIE, LOCKED_ROUTE_ENV, type ReadyMessage, SCENARIOS, type Scenario, appSpec, floorStoreOf, isBare, keepsNoSessions, scenarioApplies, createSession, stopChild } from './common.js';
import { withRunNamespaces } from './namespaces.js';
import { median } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const APP_MAIN = join(here, 'apps/main.js');

/** The default apps: Fastify (the adapter whose figures the targets are hardest on), each store's floor beside the library. */
const DEFAULT_APPS = [
  'fastify-bare',
  'fastify-minimal',
  'fastify-minimal-same',
  'fastify-sessionkit-memory',
  'fastify-minimal-redis',
  'fastify-minimal-same-redis',
  'fastify-sessionkit-redis',
  'fastify-minimal-postgres',
  'fastify-sessionkit-postgres',
];

interface Options {
  /** A results file of an earlier run to print, measuring nothing. */
  render: string | undefined;
  apps: string[];
  scenarios: Scenario[];
  warmup: number;
  requests: number;
  repeat: number;
}

function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--(apps|scenarios|warmup|requests|repeat|render)=(.+)$/.exec(arg);
    if (!m) throw new Error(`Unknown argument ${arg}. Options: --apps=a,b --scenarios=read,change,first,none --warmup=N --requests=N --repeat=N --render=FILE`);
    flags.set(m[1]!, m[2]!);
  }
  const count = (name: string, fallback: number): number => {
    const n = Number(flags.get(name) ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number above 0, got ${flags.get(name)}`);
    return n;
  };
  const apps = flags.get('apps')?.split(',') ?? DEFAULT_APPS;
  for (const name of apps) appSpec(name);
  const scenarioNames = flags.get('scenarios')?.split(',') ?? ['read', 'change', 'first', 'none'];
  const scenarios = scenarioNames.map((name) => {
    const scenario = SCENARIOS.find((s) => s.name === name && s.sessions === undefined);
    if (scenario === undefined) throw new Error(`Unknown or many-sessions scenario "${name}". Known: read, change, change-lock, first, none`);
    return scenario;
  });
  return { render: flags.get('render'), apps, scenarios, warmup: count('warmup', 10_000), requests: count('requests', 1000), repeat: count('repeat', 3) };
}

/** One app under callgrind, with its instrumentation off until {@link counted} turns it on. */
interface CountedApp {
  child: ChildProcess;
  port: number;
  /** Where callgrind writes its counts (one file per thread and dump). */
  outFile: string;
}

async function startCounted(spec: AppSpec, dir: string, lockedRoute: boolean): Promise<CountedApp> {
  const outFile = join(dir, `${spec.name}.out`);
  const child = spawn('valgrind', ['--tool=callgrind', '--separate-threads=yes', '--instr-atstart=no', `--callgrind-out-file=${outFile}`, 'node', APP_MAIN, spec.name], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'production', [LOCKED_ROUTE_ENV]: lockedRoute ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4000)));
  const line = await new Promise<string>((resolveLine, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.name} did not start under valgrind within 5 minutes`)), 300_000);
    child.once('exit', (code) => reject(new Error(`${spec.name} exited with code ${code} under valgrind: ${err.trim().split('\n').pop()}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (!l.startsWith('{')) return;
      clearTimeout(timer);
      resolveLine(l);
    });
  });
  child.removeAllListeners('exit');
  return { child, port: (JSON.parse(line) as ReadyMessage).port, outFile };
}

function callgrindControl(app: CountedApp, ...args: string[]): void {
  const result = spawnSync('callgrind_control', [...args, String(app.child.pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
}

/** Sends `count` requests of `scenario`, one at a time over one keep-alive connection; throws on an error status. */
async function drive(app: CountedApp, scenario: Scenario, cookie: string | undefined, count: number): Promise<void> {
  const url = `http://127.0.0.1:${app.port}${scenario.path}`;
  const init: RequestInit = { method: scenario.method, headers: cookie === undefined ? {} : { cookie } };
  for (let i = 0; i < count; i++) {
    const res = await fetch(url, init);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${scenario.method} ${scenario.path} answered ${res.status}`);
  }
}

/** Instructions on the main thread and on all threads over `count` requests, per request. */
async function counted(app: CountedApp, scenario: Scenario, cookie: string | undefined, count: number): Promise<{ main: number; all: number }> {
  callgrindControl(app, '--instr=on');
  await drive(app, scenario, cookie, count);
  callgrindControl(app, '--instr=off');
  callgrindControl(app, '--dump');
  // Each app process counts one window: its first dump.
  const dumpPrefix = `${basename(app.outFile)}.1-`;
  const dir = dirname(app.outFile);
  const dumped = (): string[] => readdirSync(dir).filter((f) => f.startsWith(dumpPrefix));
  // callgrind writes a file per thread once the command has come back: wait for the main thread's.
  for (let waited = 0; !dumped().some((f) => f.endsWith('-01')); waited += 100) {
    if (waited > 30_000) throw new Error(`callgrind wrote no counts to ${app.outFile}.1-01`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  let main = 0;
  let all = 0;
  for (const file of dumped()) {
    const totals = /^totals: (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
    const n = Number(totals?.[1] ?? 0);
    all += n;
    if (file.endsWith('-01')) main += n;
  }
  return { main: main / count, all: all / count };
}

/** The cookie of a scenario's requests: none for a first visit, a dummy for apps without sessions, else a session made by /setup. */
async function cookieFor(spec: AppSpec, app: CountedApp, scenario: Scenario): Promise<string | undefined> {
  if (!scenario.withCookie) return undefined;
  return keepsNoSessions(spec) ? BARE_COOKIE : createSession(app.port, spec.name);
}

interface CaseResult {
  app: string;
  scenario: string;
  /** Per run: instructions per request on the main thread and on all threads. */
  runs: { main: number; all: number }[];
}

const thousands = (n: number): string => `${(n / 1000).toFixed(1)}k`;
const signed = (n: number): string => `${n >= 0 ? '+' : '−'}${thousands(Math.abs(n))}`;

/** The markdown table of one scenario: per app, the medians, their spread, and the differences to bare and to the floor of its store. */
function table(scenario: Scenario, results: CaseResult[]): string {
  const rows = results.filter((r) => r.scenario === scenario.name);
  const mainOf = (r: CaseResult | undefined): number | undefined => (r === undefined ? undefined : median(r.runs.map((x) => x.main)));
  const find = (predicate: (spec: AppSpec) => boolean, adapter: string): CaseResult | undefined =>
    rows.find((r) => {
      const spec = appSpec(r.app);
      return spec.adapter === adapter && predicate(spec);
    });
  const lines = [
    `### ${scenario.label} (${scenario.method} ${scenario.path})`,
    '',
    '| app | main thread, per request (min…max) | all threads | above bare | above its floor |',
    '|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const spec = appSpec(r.app);
    const main = mainOf(r)!;
    const mains = r.runs.map((x) => x.main);
    const bare = mainOf(find(isBare, spec.adapter));
    const floor = mainOf(find((s) => s.floor === true && s.store === floorStoreOf(spec), spec.adapter));
    lines.push(
      `| ${r.app} | ${thousands(main)} (${thousands(Math.min(...mains))}…${thousands(Math.max(...mains))}) | ${thousands(median(r.runs.map((x) => x.all)))} | ${bare === undefined || isBare(spec) ? '' : signed(main - bare)} | ${floor === undefined || spec.floor === true || keepsNoSessions(spec) ? '' : signed(main - floor)} |`,
    );
  }
  return lines.join('\n');
}

/** The tables of a run's results, one per scenario. */
function tables(scenarios: readonly Scenario[], results: CaseResult[]): string {
  return `\n${scenarios.map((s) => table(s, results)).join('\n\n')}\n`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.render !== undefined) {
    const saved = JSON.parse(readFileSync(options.render, 'utf8')) as { options: { scenarios: string[] }; results: CaseResult[] };
    process.stdout.write(tables(SCENARIOS.filter((s) => s.sessions === undefined && saved.options.scenarios.includes(s.name)), saved.results));
    return;
  }
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    process.stderr.write('bench:instructions needs valgrind: apt-get install -y valgrind\n');
    process.exit(1);
  }
  const specs = options.apps.map(appSpec);
  const cases = specs.reduce((n, spec) => n + options.scenarios.filter((s) => scenarioApplies(s, spec)).length, 0) * options.repeat;
  process.stderr.write(`Counting instructions: ${cases} cases (${options.apps.length} apps, ${options.repeat} runs each), ${options.warmup} requests of warm-up and ${options.requests} counted per case; about a minute per case.\n`);
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-instructions-'));
  const results: CaseResult[] = [];
  try {
    await withRunNamespaces(
      specs.map((spec) => spec.store),
      async () => {
        for (let run = 0; run < options.repeat; run++) {
          for (const spec of specs) {
            const scenarios = options.scenarios.filter((s) => scenarioApplies(s, spec));
            if (scenarios.length === 0) continue;
            // A fresh process per run and scenario: what V8 compiled for one scenario does not count in another.
            for (const scenario of scenarios) {
              const app = await startCounted(spec, dir, scenario.name === 'change-lock');
              try {
                const cookie = await cookieFor(spec, app, scenario);
                await drive(app, scenario, cookie, options.warmup);
                const count = await counted(app, scenario, cookie, options.requests);
                let result = results.find((r) => r.app === spec.name && r.scenario === scenario.name);
                if (result === undefined) results.push((result = { app: spec.name, scenario: scenario.name, runs: [] }));
                result.runs.push(count);
                process.stderr.write(`  run ${run + 1}: ${spec.name} ${scenario.name}: ${thousands(count.main)} main thread, ${thousands(count.all)} all threads per request\n`);
              } finally {
                await stopChild(app.child, 10_000);
              }
            }
          }
        }
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(tables(options.scenarios, results));
  mkdirSync(join(root, 'bench-dist'), { recursive: true });
  writeFileSync(join(root, 'bench-dist', 'instructions.json'), JSON.stringify({ options: { ...options, scenarios: options.scenarios.map((s) => s.name) }, results }, null, 2));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
