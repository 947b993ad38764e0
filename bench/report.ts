/**
 * Turns the measurements into the console table, docs/benchmarks.md and docs/benchmarks.svg.
 */
import { type AdapterName, type AppSpec, type LoadResult, SCENARIOS, type Scenario, type ScenarioName, floorStoreOf, isBare, isMemorySameWork } from './common.js';
import type { BytesResult, MillionResult } from './memory.js';
import type { ProfileResult } from './profile.js';
import { type RedisRunStats, clientCommands } from './redis-stats.js';
import { CATEGORIES, CATEGORY_LABELS, usText } from './profile.js';

/** One measured case in one round. */
export interface CaseRound extends LoadResult {
  round: number;
  app: string;
  scenario: ScenarioName;
  cpuUsPerRequest: number;
  /**
   * The run at the adapter's fixed rate (one-session cases; absent in the many-sessions cases and
   * in results of older runs), with the app's CPU per request over it.
   */
  atRate?: LoadResult & { cpuUsPerRequest: number };
  /** Runs of the bare app and the in-memory floor at the SQL rate, as yardsticks of the apps on SQL databases. */
  atOtherRates?: Array<LoadResult & { cpuUsPerRequest: number }>;
  /** What Redis did during the measured run (the fixed-rate one where there is one), for apps on Redis. */
  redis?: RedisRunStats;
}

/** How long making the sessions of the many-sessions cases took, per app and round. */
export interface SeedingResult {
  round: number;
  app: string;
  sessions: number;
  ms: number;
}

export interface LostResult {
  app: string;
  sent: number;
  ok: number;
  failed: number;
  finalValue: number;
  lost: number;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  /** 25th percentile (linear interpolation between the closest ranks). */
  q1: number;
  /** 75th percentile (linear interpolation between the closest ranks). */
  q3: number;
}

export interface CaseSummary {
  app: AppSpec;
  scenario: Scenario;
  rounds: number;
  rps: Stat;
  p50: Stat;
  p99: Stat;
  cpu: Stat;
  /** CPU share the load generator used (near 100%: the figure may be capped by the generator). */
  loaderCpu: Stat;
  /** Per-round ratio of requests/s to the bare app of the same adapter; null for the bare app. */
  ratio: Stat | null;
  /**
   * Per-round ratio of requests/s to the floor app (a hand-written session, no library) of the
   * same adapter; null for the floor app itself or when it was not measured (absent in older results).
   */
  floorRatio?: Stat | null;
  /** The app's CPU µs per request at the adapter's fixed rate; null where the case had no fixed-rate run. */
  cpuAtRate: Stat | null;
  /** Requests per second reached in the fixed-rate run (null: none). */
  rpsAtRate: Stat | null;
  /** The fixed rate asked (req/s), if any. */
  rate: number | undefined;
  /** Whether the app kept up with the fixed rate (median reached ≥ {@link SUSTAINED_SHARE} of it) in the fixed-rate run. */
  sustained: boolean | undefined;
  /** Per-round difference of CPU µs per request at the fixed rate to the bare app of the adapter (null: the bare app, or not measured). */
  aboveBare: Stat | null;
  /** The same to the floor of the app's store (in memory, Redis or PostgreSQL; null: the floor itself, or not measured). */
  aboveFloor: Stat | null;
  /**
   * For nestjs-sessionkit MemoryStore apps in the cases with a MemoryStore target (read, change,
   * first visit): the same to the same-work app of the adapter (the floor's work in the library's
   * shape, by hand: bench/apps/minimal-same.ts), what the library adds beyond that shape (absent
   * otherwise or when the same-work app was not measured).
   */
  aboveSameWork?: Stat;
  /** The issue's target for this case, judged on CPU per request at the fixed rate (absent: none). */
  target?: CpuTarget;
  pass: boolean | undefined;
  failures: number;
  /** Redis per request, medians over rounds, for apps on Redis (absent otherwise and in older results). */
  redis?: RedisSummary;
}

export interface RedisSummary {
  /** Commands Redis ran per request, by name (scripts' own commands included). */
  perCommand: Record<string, number>;
  /** All commands Redis ran per request. */
  total: number;
  /** Commands the client sent per request: the round trips, as no bench client pipelines one request's commands. */
  sent: number;
  /** Whether `sent` was counted by the app (else it is `total`: a client running no scripts). */
  sentCounted: boolean;
  /** Redis server CPU per request, µs. */
  cpuUs: number;
}

function redisSummary(rounds: CaseRound[]): RedisSummary | undefined {
  // The counters cover the fixed-rate run where there was one, else the saturation run.
  const mine = rounds.map((r) => (r.atRate === undefined ? r : { ...r, requests: r.atRate.requests }));
  const withStats = mine.filter((r) => r.redis !== undefined && r.requests > 0);
  if (withStats.length === 0) return undefined;
  const names = [...new Set(withStats.flatMap((r) => Object.keys(r.redis!.calls)))].sort();
  const perCommand: Record<string, number> = {};
  for (const name of names) perCommand[name] = median(withStats.map((r) => (r.redis!.calls[name] ?? 0) / r.requests));
  return {
    perCommand,
    total: median(withStats.map((r) => Object.values(r.redis!.calls).reduce((a, b) => a + b, 0) / r.requests)),
    sent: median(withStats.map((r) => clientCommands(r.redis!) / r.requests)),
    sentCounted: withStats.every((r) => r.redis!.sent !== undefined),
    cpuUs: median(withStats.map((r) => r.redis!.cpuUs / r.requests)),
  };
}

/**
 * One target of the issue on CPU per request at equal load: `excess` (per-round differences,
 * µs) must stay at or below `limit`; `rule` says what is subtracted from what.
 */
export interface CpuTarget {
  limit: number;
  rule: string;
  excess: Stat;
}

export interface BenchReport {
  mode: 'quick' | 'full';
  command: string;
  date: string;
  elapsedMs: number;
  machine: string;
  coreLayout: string;
  versions: Record<string, string>;
  /** `rate` and `rateDuration` are absent in results of runs before the fixed-rate runs. */
  config: { rounds: number; duration: number; warmup: number; firstWarmup: number; connections: number; lostAmount: number; rate?: Record<AdapterName, number>; sqlRate?: number; rateDuration?: number };
  notes: string[];
  skipped: string[];
  apps: readonly AppSpec[];
  scenarios: readonly Scenario[];
  summaries: CaseSummary[];
  rounds: CaseRound[];
  lost: LostResult[];
  bytes: BytesResult | undefined;
  million: MillionResult | undefined;
  /** Absent in results of older runs. */
  seedings?: SeedingResult[];
  profiles?: ProfileResult[];
}

// ---------------------------------------------------------------- targets

/** A case sustained its fixed rate when its median req/s in that run reached this share of the rate. */
export const SUSTAINED_SHARE = 0.97;

/**
 * The issue's targets on the app's CPU µs per request at the fixed rate, for nestjs-sessionkit
 * with default options (and, for the route without session, `globalInterceptor: false`):
 *
 * - MemoryStore: above the in-memory floor at most 5 µs (read, first visit) or 10 µs (change); the
 *   route without session at most the no-op-interceptor app + 1 µs (default options) or bare +
 *   2 µs (`globalInterceptor: false`, or default options when no no-op-interceptor app ran).
 * - RedisStore: at most the MemoryStore app's figure plus what one round trip costs a hand-written
 *   app (Redis floor − in-memory floor) plus 5 µs.
 * - PostgresStore: at most the PostgreSQL floor plus 10 µs.
 *
 * Each is judged on the median over rounds of the per-round difference (apps compared within one round).
 */
const LIMITS = { memory: { read: 5, first: 5, change: 10 }, noneOverBare: 2, noneOverNoop: 1, redis: 5, postgres: 10 } as const;

/** The app's CPU µs per request in a round's run at `rate`, if it had one. */
function cpuAt(r: CaseRound, rate: number): number | undefined {
  const run = r.atRate?.rate === rate ? r.atRate : r.atOtherRates?.find((x) => x.rate === rate);
  return run === undefined || !Number.isFinite(run.cpuUsPerRequest) ? undefined : run.cpuUsPerRequest;
}

/** Per round: the sum of `terms` (app name and sign) of CPU per request at `rate`, for rounds where every term was measured. */
function perRoundSum(rounds: CaseRound[], scenario: ScenarioName, terms: Array<[string, 1 | -1]>, rate: number): number[] {
  const byRound = new Map<number, number>();
  const counted = new Map<number, number>();
  for (const r of rounds) {
    if (r.scenario !== scenario) continue;
    const cpu = cpuAt(r, rate);
    if (cpu === undefined) continue;
    for (const [name, sign] of terms) {
      if (r.app !== name) continue;
      byRound.set(r.round, (byRound.get(r.round) ?? 0) + sign * cpu);
      counted.set(r.round, (counted.get(r.round) ?? 0) + 1);
    }
  }
  return [...byRound.entries()].filter(([round]) => counted.get(round) === terms.length).map(([, v]) => v);
}

/** The target of one case, or undefined where the issue sets none (or the apps it needs were not measured). */
function cpuTarget(app: AppSpec, scenario: ScenarioName, apps: readonly AppSpec[], rounds: CaseRound[], rate: number | undefined): CpuTarget | undefined {
  if (rate === undefined) return undefined;
  if (app.library !== 'nestjs-sessionkit' || app.wraps !== undefined) return undefined;
  if (app.option !== undefined && !(app.option === 'globalInterceptor' && scenario === 'none' && app.store === 'memory')) return undefined;
  const find = (match: (a: AppSpec) => boolean): AppSpec | undefined => apps.find((a) => a.adapter === app.adapter && match(a));
  const bare = find(isBare);
  const floor = find((a) => a.floor === true && a.store === 'none');
  const judge = (limit: number, rule: string, terms: Array<[AppSpec | undefined, 1 | -1]>): CpuTarget | undefined => {
    if (terms.some(([a]) => a === undefined)) return undefined;
    const values = perRoundSum(rounds, scenario, terms.map(([a, sign]) => [a!.name, sign]), rate);
    return values.length === 0 ? undefined : { limit, rule, excess: stat(values) };
  };
  switch (app.store) {
    case 'memory': {
      if (scenario === 'none') {
        const noop = find((a) => a.option === 'noopInterceptor');
        if (app.option === undefined && noop !== undefined) return judge(LIMITS.noneOverNoop, 'app − (bare + no-op global interceptor)', [[app, 1], [noop, -1]]);
        return judge(LIMITS.noneOverBare, 'app − bare', [[app, 1], [bare, -1]]);
      }
      if (scenario === 'read' || scenario === 'first' || scenario === 'change') return judge(LIMITS.memory[scenario], 'app − floor', [[app, 1], [floor, -1]]);
      return undefined;
    }
    case 'redis': {
      if (scenario.endsWith('-100k')) return undefined;
      const memory = find((a) => a.library === 'nestjs-sessionkit' && a.store === 'memory' && a.option === undefined);
      const redisFloor = find((a) => a.floor === true && a.store === 'redis');
      return judge(LIMITS.redis, 'app − MemoryStore app − (Redis floor − floor)', [[app, 1], [memory, -1], [redisFloor, -1], [floor, 1]]);
    }
    case 'postgres': {
      const pgFloor = find((a) => a.floor === true && a.store === 'postgres');
      return judge(LIMITS.postgres, 'app − PostgreSQL floor', [[app, 1], [pgFloor, -1]]);
    }
    default:
      return undefined;
  }
}

/** Bytes per session the issue allows: MemoryStore (V8 heap) and RedisStore (MEMORY USAGE). */
export const BYTES_TARGETS = { memory: 400, redis: 700 } as const;

/** Event-loop stall allowed while MemoryStore sweeps 1M sessions. */
export const SWEEP_STALL_TARGET_MS = 10;

// ---------------------------------------------------------------- statistics

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-quantile (0 ≤ p ≤ 1) with linear interpolation between the closest ranks (R type 7, numpy's default). */
function quantile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function stat(values: number[]): Stat {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, q1: NaN, q3: NaN };
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), q1: quantile(values, 0.25), q3: quantile(values, 0.75) };
}

/** At or above this share of one CPU used by the load generator, a case counts as loader-bound. */
export const LOADER_BOUND_SHARE = 0.9;

/** Whether the load generator, rather than the app, set the pace of this case (median over rounds). */
export function loaderBound(s: CaseSummary): boolean {
  return s.loaderCpu.median >= LOADER_BOUND_SHARE;
}

/**
 * Whether a case is one the same-work app explains: a nestjs-sessionkit MemoryStore app in a
 * scenario with a MemoryStore target against the floor (read, change, first visit).
 */
function explainedBySameWork(app: AppSpec, scenario: ScenarioName): boolean {
  return app.library === 'nestjs-sessionkit' && app.store === 'memory' && app.wraps === undefined && (scenario === 'read' || scenario === 'change' || scenario === 'first');
}

export function summarize(apps: readonly AppSpec[], scenarios: readonly Scenario[], rounds: CaseRound[]): CaseSummary[] {
  const summaries: CaseSummary[] = [];
  for (const scenario of scenarios) {
    for (const app of apps) {
      const mine = rounds.filter((r) => r.app === app.name && r.scenario === scenario.name);
      if (mine.length === 0) continue;
      /** Per-round ratios of this app's req/s to those of `base` (same scenario, same round). */
      const ratioTo = (base: AppSpec | undefined): Stat | null => {
        if (base === undefined || base.name === app.name) return null;
        const ratios: number[] = [];
        for (const r of mine) {
          const b = rounds.find((x) => x.app === base.name && x.scenario === scenario.name && x.round === r.round);
          if (b !== undefined && b.rps > 0) ratios.push(r.rps / b.rps);
        }
        return ratios.length > 0 ? stat(ratios) : null;
      };
      const bare = apps.find((a) => a.adapter === app.adapter && isBare(a));
      const floor = apps.find((a) => a.adapter === app.adapter && a.floor === true && a.store === floorStoreOf(app));
      const ratio = ratioTo(bare);
      const floorRatio = ratioTo(apps.find((a) => a.adapter === app.adapter && a.floor === true && a.store === 'none'));
      /** Per-round differences of CPU per request at the fixed rate to `base` (same scenario, same round). */
      const atRate = mine.filter((r) => r.atRate !== undefined).map((r) => r.atRate!);
      const rate = atRate[0]?.rate;
      const cpuAbove = (base: AppSpec | undefined): Stat | null => {
        if (base === undefined || base.name === app.name || rate === undefined) return null;
        const values = perRoundSum(rounds, scenario.name, [[app.name, 1], [base.name, -1]], rate);
        return values.length > 0 ? stat(values) : null;
      };
      const rpsAtRate = atRate.length > 0 ? stat(atRate.map((r) => r.rps)) : null;
      const target = cpuTarget(app, scenario.name, apps, rounds, rate);
      const sameWork = explainedBySameWork(app, scenario.name) ? cpuAbove(apps.find((a) => a.adapter === app.adapter && isMemorySameWork(a))) : null;
      summaries.push({
        app,
        scenario,
        rounds: mine.length,
        rps: stat(mine.map((r) => r.rps)),
        p50: stat(mine.map((r) => r.p50)),
        p99: stat(mine.map((r) => r.p99)),
        cpu: stat(mine.map((r) => r.cpuUsPerRequest)),
        loaderCpu: stat(mine.map((r) => r.loaderCpuShare)),
        ratio,
        floorRatio,
        cpuAtRate: atRate.length > 0 ? stat(atRate.map((r) => r.cpuUsPerRequest)) : null,
        rpsAtRate,
        rate,
        sustained: rate === undefined || rpsAtRate === null ? undefined : rpsAtRate.median >= SUSTAINED_SHARE * rate,
        aboveBare: cpuAbove(bare),
        aboveFloor: cpuAbove(floor),
        ...(sameWork === null ? {} : { aboveSameWork: sameWork }),
        ...(target === undefined ? {} : { target }),
        pass: target === undefined ? undefined : target.excess.median <= target.limit,
        failures: mine.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts + (r.atRate === undefined ? 0 : r.atRate.non2xx + r.atRate.errors + r.atRate.timeouts), 0),
        redis: redisSummary(mine),
      });
    }
  }
  return summaries;
}

// ---------------------------------------------------------------- formatting helpers

const adapterLabel = (a: AdapterName): string => (a === 'express' ? 'Express' : 'Fastify');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
/** The interquartile range of req/s, and its width as a share of the median. */
const spread = (s: Stat): string =>
  s.median > 0 && Number.isFinite(s.q1) && Number.isFinite(s.q3) ? `${int(s.q1)}–${int(s.q3)} (${(((s.q3 - s.q1) / s.median) * 100).toFixed(1)}%)` : '';
const ms = (n: number): string => (Number.isFinite(n) ? (n >= 10 ? n.toFixed(0) : n.toFixed(1)) : 'n/a');
const bytesText = (n: number): string => `${Math.round(n).toLocaleString('en-US')} B`;

function statRatioText(s: CaseSummary, r: Stat): string {
  return s.rounds > 1 && Number.isFinite(r.q1) ? `${r.median.toFixed(2)} (IQR ${r.q1.toFixed(2)}–${r.q3.toFixed(2)})` : r.median.toFixed(2);
}

function ratioText(s: CaseSummary): string {
  if (s.ratio === null) return isBare(s.app) ? '1.00 (ceiling)' : 'n/a';
  return statRatioText(s, s.ratio);
}

function floorRatioText(s: CaseSummary): string {
  if (s.app.floor) return '1.00 (floor)';
  // The floor app does not run the many-sessions cases.
  if (s.scenario.sessions !== undefined) return '';
  if (s.floorRatio === undefined) return '';
  return s.floorRatio === null ? 'n/a' : statRatioText(s, s.floorRatio);
}

function verdict(pass: boolean | undefined): string {
  return pass === undefined ? '' : pass ? 'pass' : 'MISS';
}

const HEADERS = ['Scenario', 'Adapter', 'App', 'req/s', 'req/s IQR (width)', 'p50 ms', 'p99 ms', 'CPU µs/req', 'load gen CPU', 'ratio to bare', 'ratio to floor', 'note'];

function rowsOf(report: BenchReport): string[][] {
  return report.summaries.map((s) => [
    s.scenario.label,
    adapterLabel(s.app.adapter),
    s.app.label + (s.rounds < report.config.rounds ? ` [${s.rounds} of ${report.config.rounds} rounds]` : '') + (s.failures > 0 ? ` (${s.failures} failed requests)` : ''),
    int(s.rps.median),
    s.rounds > 1 ? spread(s.rps) : '',
    ms(s.p50.median),
    ms(s.p99.median),
    int(s.cpu.median),
    `${Math.round(s.loaderCpu.median * 100)}%`,
    ratioText(s),
    floorRatioText(s),
    loaderBound(s) ? 'loader-bound' : '',
  ]);
}

// ---------------------------------------------------------------- CPU per request at equal load

/** µs with one decimal, signed. */
const signedUs = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(1)}` : 'n/a');
/** A median of µs with its IQR where there are several rounds. */
function usStat(st: Stat | null, signed: boolean, rounds: number): string {
  if (st === null) return '';
  const f = signed ? signedUs : (n: number): string => fixed(n, 1);
  return rounds > 1 && Number.isFinite(st.q1) ? `${f(st.median)} (IQR ${f(st.q1)}…${f(st.q3)})` : f(st.median);
}

const CPU_HEADERS = ['Scenario', 'Adapter', 'App', 'fixed rate req/s', 'reached req/s', 'CPU µs/req', 'above bare µs', 'above floor µs', 'target', 'result', 'note'];
const CPU_NUMERIC = new Set([3, 4, 5, 6, 7]);

/** The cases with a fixed-rate run: the app's CPU per request at that rate, above bare and above its floor. */
function cpuRows(report: BenchReport): string[][] {
  return report.summaries
    .filter((s) => s.cpuAtRate !== null)
    .map((s) => [
      s.scenario.label,
      adapterLabel(s.app.adapter),
      s.app.label + (s.failures > 0 ? ` (${s.failures} failed requests)` : ''),
      s.rate === undefined ? '' : int(s.rate),
      s.rpsAtRate === null ? '' : int(s.rpsAtRate.median),
      usStat(s.cpuAtRate, false, s.rounds),
      isBare(s.app) ? '0 (bare)' : usStat(s.aboveBare, true, s.rounds),
      s.app.floor ? `0 (${s.app.store === 'none' ? 'floor' : `${s.app.store} floor`})` : usStat(s.aboveFloor, true, s.rounds),
      s.target === undefined ? '' : `${s.target.rule} ≤ ${s.target.limit} µs`,
      verdict(s.pass),
      [
        s.aboveSameWork === undefined ? '' : `${usStat(s.aboveSameWork, true, s.rounds)} µs above the same work by hand`,
        s.sustained === false ? `did not sustain the rate (${int(s.rpsAtRate!.median)} of ${int(s.rate!)} req/s): CPU at saturation` : '',
      ]
        .filter((note) => note !== '')
        .join('; '),
    ]);
}

const CPU_NOTE =
  'The app process\'s CPU time (utime+stime) per response over the run at the fixed rate, every app of an adapter at the same rate; "above bare" and "above floor" are per-round differences to the bare app and to the floor of the app\'s store (in memory; Redis for apps on Redis; PostgreSQL for apps on PostgreSQL) in the same round, median and interquartile range over the rounds. The targets are judged on these figures. For nestjs-sessionkit MemoryStore in read, change and first visit, the note gives the same per-round difference to the same-work app of the adapter ("hand-written session doing the library\'s work": the floor\'s session work in the library\'s shape, by hand, see "The floor: a session written by hand"): what the library adds beyond the cost of that shape, which the same-work app\'s own "above floor" figure measures. autocannon\'s rate limit gives each connection its share of a second\'s requests, sent as fast as the app answers from the start of each second and then paused: the load is equal on average, in bursts.';

/** Peers an app is compared with: the other libraries on the same kind of store, same adapter. */
function peersOf(app: AppSpec, apps: readonly AppSpec[]): AppSpec[] {
  return apps.filter((a) => a.adapter === app.adapter && a.library !== 'bare' && a.library !== 'nestjs-sessionkit' && a.store === app.store);
}

/** One warning per case whose load generator used ≥ 90% of its CPU. */
function loaderWarnings(report: BenchReport): string[] {
  return report.summaries.filter(loaderBound).map(
    (s) =>
      `${s.scenario.label}, ${adapterLabel(s.app.adapter)}, ${s.app.label}: the load generator used ${Math.round(s.loaderCpu.median * 100)}% of its CPU (≥ ${Math.round(LOADER_BOUND_SHARE * 100)}%), so this case's req/s is capped by the load generator rather than the app, and ${isBare(s.app) ? 'as this is the bare app, the ratios to bare of the other apps of this adapter and scenario are relative to a capped ceiling (they read too high)' : 'so is its ratio (it reads too low)'}.`,
  );
}

function textTable(headers: string[], rows: string[][], rightAligned: Set<number>, groupBy?: number): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(headers), rule];
  let previous: string | undefined;
  for (const row of rows) {
    if (groupBy !== undefined && previous !== undefined && row[groupBy] !== previous) out.push('');
    previous = groupBy === undefined ? undefined : row[groupBy];
    out.push(line(row));
  }
  return out.join('\n');
}

function markdownTable(headers: string[], rows: string[][], rightAligned: Set<number>): string {
  const escape = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(escape).join(' | ')} |`,
    `| ${headers.map((_, i) => (rightAligned.has(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`),
  ].join('\n');
}

const NUMERIC = new Set([3, 4, 5, 6, 7, 8]);

function lostRows(report: BenchReport): string[][] {
  return report.lost.map((l) => {
    const app = report.apps.find((a) => a.name === l.app)!;
    if (app.store === 'cookie') {
      return [adapterLabel(app.adapter), app.label, int(l.sent), int(l.ok), int(l.finalValue), int(l.lost), 'none: stateless, the last cookie wins (documented)', ''];
    }
    const isKit = app.library === 'nestjs-sessionkit';
    // ExpressSessionStore serializes a session's changes inside one process only (one app process here).
    const target = app.wraps !== undefined ? '0 in one process (not across instances)' : '0';
    return [adapterLabel(app.adapter), app.label, int(l.sent), int(l.ok), int(l.finalValue), int(l.lost), isKit ? target : '', isKit ? verdict(l.lost === 0 && l.failed === 0) : ''];
  });
}
const LOST_HEADERS = ['Adapter', 'App', 'requests', '2xx', 'final n', 'lost updates', 'target', 'result'];

// ---------------------------------------------------------------- targets table

interface TargetRow {
  what: string;
  target: string;
  measured: string;
  pass: boolean | undefined;
}

/** Every target of the issue with what this run measured: pass, MISS, or not measured. */
function targetRows(report: BenchReport): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const s of report.summaries.filter((x) => x.target !== undefined)) {
    const t = s.target!;
    rows.push({
      what: `${s.scenario.label}, ${adapterLabel(s.app.adapter)}, ${s.app.label}: CPU µs/req at ${int(s.rate ?? NaN)} req/s, ${t.rule}`,
      target: `≤ ${t.limit} µs`,
      measured: `${signedUs(t.excess.median)} µs${s.rounds > 1 ? ` (IQR ${signedUs(t.excess.q1)}…${signedUs(t.excess.q3)}, ${s.rounds} rounds)` : ' (1 round)'}${s.sustained === false ? '; the app did not sustain the rate' : ''}`,
      pass: s.pass,
    });
  }
  // Every figure ahead of every peer: nestjs-sessionkit (defaults) below each peer on the same store, per case.
  for (const s of report.summaries.filter((x) => x.app.library === 'nestjs-sessionkit' && x.app.option === undefined && x.app.wraps === undefined && x.cpuAtRate !== null)) {
    for (const peer of peersOf(s.app, report.apps)) {
      const values = s.rate === undefined ? [] : perRoundSum(report.rounds, s.scenario.name, [[s.app.name, 1], [peer.name, -1]], s.rate);
      if (values.length === 0) continue;
      const d = stat(values);
      rows.push({
        what: `${s.scenario.label}, ${adapterLabel(s.app.adapter)}, ${s.app.label}: CPU µs/req at ${int(s.rate ?? NaN)} req/s, app − ${peer.label}`,
        target: '< 0 µs',
        measured: `${signedUs(d.median)} µs${values.length > 1 ? ` (IQR ${signedUs(d.q1)}…${signedUs(d.q3)}, ${values.length} rounds)` : ' (1 round)'}`,
        pass: d.median < 0,
      });
    }
  }
  const m = report.million;
  if (m !== undefined) {
    if (m.bytesPerSession !== undefined)
      rows.push({ what: `MemoryStore at ${int(m.sessions)} sessions: JS heap per session`, target: `≤ ${BYTES_TARGETS.memory} B`, measured: bytesText(m.bytesPerSession), pass: m.bytesPerSession <= BYTES_TARGETS.memory });
    rows.push({ what: `MemoryStore at ${int(m.sessions)} sessions: longest event-loop stall while sweeping`, target: `≤ ${SWEEP_STALL_TARGET_MS} ms`, measured: `${fixed(m.maxStallMs, 1)} ms`, pass: m.maxStallMs <= SWEEP_STALL_TARGET_MS });
  }
  const r = report.bytes?.sessionkitRedis;
  if (r) rows.push({ what: 'RedisStore: MEMORY USAGE per session (all its keys)', target: `≤ ${BYTES_TARGETS.redis} B`, measured: bytesText(r.memoryUsage), pass: r.memoryUsage <= BYTES_TARGETS.redis });
  for (const l of report.lost) {
    const app = report.apps.find((a) => a.name === l.app);
    // CookieStore cannot merge parallel writes (each response carries the whole session): no target.
    if (app?.library !== 'nestjs-sessionkit' || app.store === 'cookie') continue;
    rows.push({ what: `Lost updates, ${adapterLabel(app.adapter)}, ${app.label}`, target: '0', measured: `${int(l.lost)} of ${int(l.ok)}${l.failed > 0 ? ` (${int(l.failed)} failed requests)` : ''}`, pass: l.lost === 0 && l.failed === 0 });
  }
  return rows;
}

const TARGET_HEADERS = ['Target', 'Goal', 'Measured (median, IQR)', 'Result'];
const targetTableRows = (rows: TargetRow[]): string[][] => rows.map((r) => [r.what, r.target, r.measured, verdict(r.pass)]);

// ---------------------------------------------------------------- Redis per request

const REDIS_HEADERS = ['Scenario', 'Adapter', 'App', 'commands Redis ran per request', 'total', 'sent by the client (round trips)', 'Redis CPU µs/req'];

function redisRows(report: BenchReport): string[][] {
  return report.summaries
    .filter((s) => s.redis !== undefined)
    .map((s) => {
      const r = s.redis!;
      const commands = Object.entries(r.perCommand)
        .filter(([, n]) => n >= 0.005)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .map(([name, n]) => `${name} ${n.toFixed(2)}`)
        .join(', ');
      return [s.scenario.label, adapterLabel(s.app.adapter), s.app.label, commands || 'none', r.total.toFixed(2), `${r.sent.toFixed(2)}${r.sentCounted ? '' : ' (no scripts: = total)'}`, fixed(r.cpuUs, 1)];
    });
}

/** What the Redis table means, in a sentence. */
const REDIS_NOTE =
  'Per request, medians over rounds. Before each measured run the harness sends `CONFIG RESETSTAT`; after it, it reads `INFO commandstats` (the harness\'s own INFO, CONFIG and PING left out) and the server\'s `used_cpu_sys + used_cpu_user` from `INFO cpu` (read before and after). Redis counts the commands a Lua script runs as well as the `EVALSHA` that ran it, so "commands Redis ran" is the work inside Redis; "sent by the client" is what crossed the network: for nestjs-sessionkit counted by the app (every command its ioredis client sent), for connect-redis, which runs no scripts, the same as the total. Requests in flight when a run starts or ends make the figures up to about 1% high. Redis was shared with nothing else during a full run, so its CPU is that of the apps alone. No bench app pipelines the commands of one request, so commands sent per request are its round trips to Redis. Redis CPU per request times the request rate of all app instances is the Redis CPU they need.';

// ---------------------------------------------------------------- profiles

/** Columns: one per profiled scenario and adapter, in the order measured. */
function profileColumns(profiles: ProfileResult[]): Array<{ title: string; result: ProfileResult }> {
  return profiles.map((p) => {
    const scenario = SCENARIOS.find((x) => x.name === p.scenario)?.label ?? p.scenario;
    return { title: `${scenario}, ${p.app.startsWith('express') ? 'Express' : 'Fastify'}`, result: p };
  });
}

function profileTable(profiles: ProfileResult[]): { headers: string[]; rows: string[][] } {
  const columns = profileColumns(profiles);
  const rows = CATEGORIES.map((c) => [CATEGORY_LABELS[c], ...columns.map((col) => usText(col.result.usPerRequest[c]))]);
  rows.push(['total sampled (profiler included)', ...columns.map((col) => usText(col.result.totalUs))]);
  rows.push(['responses profiled', ...columns.map((col) => int(col.result.requests))]);
  return { headers: ['µs per request', ...columns.map((c) => c.title)], rows };
}

// ---------------------------------------------------------------- the global interceptor

const INTERCEPTOR_HEADERS = [
  'Scenario',
  'Adapter',
  'bare',
  'bare + no-op interceptor',
  'no-op interceptor adds',
  'sessionkit, globalInterceptor: false',
  'sessionkit (default: interceptor on)',
  'SessionInterceptor adds',
];

/**
 * CPU of the app per request (medians over rounds, µs) of the bare app with and without a no-op
 * global interceptor, and of nestjs-sessionkit MemoryStore with and without its global
 * interceptor, where a run measured all four (`--apps=<adapter>-bare-interceptor,...`).
 */
function interceptorRows(report: BenchReport): string[][] {
  const rows: string[][] = [];
  const cpu = (scenario: ScenarioName, adapter: AdapterName, match: (app: AppSpec) => boolean): number | undefined =>
    report.summaries.find((s) => s.scenario.name === scenario && s.app.adapter === adapter && match(s.app))?.cpu.median;
  const signed = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(1)}`;
  for (const scenario of SCENARIOS.filter((x) => x.sessions === undefined)) {
    for (const adapter of ['express', 'fastify'] as const) {
      const bare = cpu(scenario.name, adapter, isBare);
      const noop = cpu(scenario.name, adapter, (a) => a.option === 'noopInterceptor');
      const kit = (option: AppSpec['option']) => cpu(scenario.name, adapter, (a) => a.library === 'nestjs-sessionkit' && a.store === 'memory' && a.option === option);
      const on = kit(undefined);
      const off = kit('globalInterceptor');
      if (bare === undefined || noop === undefined || on === undefined || off === undefined) continue;
      rows.push([scenario.label, adapterLabel(adapter), bare.toFixed(1), noop.toFixed(1), signed(noop - bare), off.toFixed(1), on.toFixed(1), signed(on - off)]);
    }
  }
  return rows;
}

const INTERCEPTOR_NOTE =
  'CPU of the app process per request, µs, medians over rounds: what a global interceptor costs. "no-op interceptor adds" is Nest\'s interceptor pipeline alone (a global interceptor that returns `next.handle()`); "SessionInterceptor adds" is the library\'s global interceptor, which commits a handler\'s session through Nest (see the README\'s "How saved before the response leaves works"); `globalInterceptor: false` leaves it out.';

// ---------------------------------------------------------------- floor: a hand-written session

interface FloorRow {
  adapter: AdapterName;
  scenario: Scenario;
  bare: CaseSummary;
  floor: CaseSummary;
}

/** Bare and floor app side by side, per scenario and adapter, where both were measured. */
function floorRows(report: BenchReport): FloorRow[] {
  const rows: FloorRow[] = [];
  for (const floor of report.summaries.filter((s) => s.app.floor)) {
    const bare = report.summaries.find((s) => s.scenario.name === floor.scenario.name && s.app.adapter === floor.app.adapter && isBare(s.app));
    if (bare !== undefined) rows.push({ adapter: floor.app.adapter, scenario: floor.scenario, bare, floor });
  }
  return rows;
}

const FLOOR_HEADERS = ['Scenario', 'Adapter', 'bare CPU µs/req', 'floor CPU µs/req', 'added µs/req', 'bare req/s', 'floor req/s', 'floor ÷ bare req/s'];

function floorTableRows(rows: FloorRow[]): string[][] {
  return rows.map((r) => [
    r.scenario.label,
    adapterLabel(r.adapter) + (r.floor.app.store === 'none' ? '' : ` (${r.floor.app.store} floor)`),
    int(r.bare.cpu.median),
    int(r.floor.cpu.median),
    `${r.floor.cpu.median >= r.bare.cpu.median ? '+' : ''}${int(r.floor.cpu.median - r.bare.cpu.median)}`,
    int(r.bare.rps.median),
    int(r.floor.rps.median),
    r.floor.ratio === null ? 'n/a' : statRatioText(r.floor, r.floor.ratio),
  ]);
}

/** One sentence per adapter: medians over the scenarios of the bare and floor CPU per request. */
function floorOverview(rows: FloorRow[]): string {
  const parts: string[] = [];
  for (const adapter of ['express', 'fastify'] as const) {
    const mine = rows.filter((r) => r.adapter === adapter && r.floor.app.store === 'none');
    if (mine.length === 0) continue;
    const bareCpu = median(mine.map((r) => r.bare.cpu.median));
    const floorCpu = median(mine.map((r) => r.floor.cpu.median));
    const ratios = mine.filter((r) => r.floor.ratio !== null).map((r) => r.floor.ratio!.median);
    parts.push(
      `${adapterLabel(adapter)}: bare ${int(bareCpu)} µs/req, floor ${int(floorCpu)} µs/req (${floorCpu >= bareCpu ? '+' : ''}${int(floorCpu - bareCpu)} µs/req${ratios.length > 0 ? `; the floor serves ${median(ratios).toFixed(2)} of bare's req/s` : ''})`,
    );
  }
  return parts.join('; ');
}

function memoryLines(report: BenchReport): string[] {
  const lines: string[] = [];
  const b = report.bytes;
  if (b !== undefined) {
    lines.push(`Bytes per stored session (user id, role, 3-item cart: ${b.sampleJson.length} bytes of JSON):`);
    lines.push(
      `  nestjs-sessionkit MemoryStore  ${bytesText(b.sessionkitMemory).padStart(9)}   V8 heap growth per session over ${int(b.count)} sessions (key, record, per-user index); ${bytesText(b.sessionkitMemoryNoUser)} for a session without a user id (no index entry)`,
    );
    lines.push(`  express-session MemoryStore    ${bytesText(b.expressSessionMemory).padStart(9)}   same measurement (its JSON includes the cookie)`);
    if (b.cookieStoreSetCookie !== undefined) {
      lines.push(`  nestjs-sessionkit CookieStore  ${bytesText(0).padStart(9)}   nothing on the server; the session travels in a ${bytesText(b.cookieStoreSetCookie)} Set-Cookie header (limit 4,096 B), sent back in every request's Cookie header`);
    }
    const redisLine = (label: string, r: BytesResult['connectRedis']): void => {
      if (r === null) lines.push(`  ${label} n/a`);
      else
        lines.push(
          `  ${label} ${bytesText(r.memoryUsage).padStart(9)}   MEMORY USAGE summed over ${fixed(r.keysPerSession, 2)} key(s) per session${r.indexBytes > 0 ? ` (${bytesText(r.indexBytes)} of it in per-user index keys)` : ''}, ${int(b.redisCount)} sessions; used_memory grew ${bytesText(r.usedMemoryDelta)} per session`,
        );
    };
    redisLine('nestjs-sessionkit RedisStore  ', b.sessionkitRedis);
    redisLine('connect-redis                 ', b.connectRedis);
    const pgLine = (label: string, r: BytesResult['connectPg']): void => {
      if (r === undefined) return;
      if (r === null) lines.push(`  ${label} n/a`);
      else lines.push(`  ${label} ${bytesText(r.totalBytes).padStart(9)}   growth of pg_total_relation_size (heap, TOAST, indexes) per session over ${int(b.redisCount)} sessions; ${bytesText(r.rowBytes)} per row`);
    };
    pgLine('nestjs-sessionkit PostgresStore', b.sessionkitPostgres);
    pgLine('connect-pg-simple             ', b.connectPg);
    for (const note of b.notes) lines.push(`  ${note}`);
  }
  const m = report.million;
  if (m !== undefined) {
    const ok = m.maxStallMs < SWEEP_STALL_TARGET_MS;
    lines.push(
      `MemoryStore holding ${int(m.sessions)} sessions (${Math.round(m.expiredShare * 100)}% expired): RSS ${fixed(m.rssWithSessionsMb, 0)} MB (JS heap ${fixed(m.heapWithSessionsMb, 0)} MB; process before: ${fixed(m.rssBeforeMb, 0)} MB); created in ${fixed(m.createMs / 1000, 1)} s`,
    );
    lines.push(
      `  store.sweep(): removed ${int(m.removed)} in ${int(m.sweepMs)} ms, ${int(m.remaining)} left; longest event-loop stall ${fixed(m.maxStallMs, 1)} ms (target < ${SWEEP_STALL_TARGET_MS} ms: ${ok ? 'pass' : 'MISS'})`,
    );
    lines.push(
      `  stall probe: setImmediate gaps, median ${fixed(m.medianGapMs, 1)} ms, ${m.stallsOver10ms} gap(s) over 10 ms; monitorEventLoopDelay max ${fixed(m.eldMaxMs, 1)} ms, p99 ${fixed(m.eldP99Ms, 1)} ms` +
        (m.settleMs === undefined ? '' : `; the sweep started once V8's helper threads were idle, ${int(m.settleMs)} ms after the forced GCs`),
    );
    lines.push(`  after the sweep: RSS ${fixed(m.rssAfterSweepMb, 0)} MB, JS heap ${fixed(m.heapAfterSweepMb, 0)} MB`);
  }
  return lines;
}

function methodLines(report: BenchReport): string[] {
  const c = report.config;
  return [
    `Core layout: ${report.coreLayout}.`,
    `Load: autocannon, ${c.connections} connections, pipelining 1, over 127.0.0.1; ${c.rounds} round(s) per case, each a ${c.warmup} s warm-up (${c.firstWarmup} s for an app's first case) at saturation, ${c.rate === undefined ? '' : `then ${c.rateDuration} s at a fixed ${int(c.rate.express)} req/s on Express and ${int(c.rate.fastify)} req/s on Fastify (autocannon's overallRate: every app of an adapter at the same rate, which all of them sustain; the apps on PostgreSQL and MySQL, which cannot, at ${int(c.sqlRate ?? NaN)} req/s, where the bare app and the in-memory floor are measured again as their yardsticks), `}then ${c.duration} s at saturation, in the same load-generator process; every app starts afresh each round (but for the many-sessions cases, below); rounds run the apps in a rotated order, forward in odd rounds and reversed in even ones, so slow drift spreads evenly; figures are medians over rounds, the spread is the interquartile range (25th–75th percentile, linear interpolation; its width as a share of the median in brackets for req/s, "IQR a–b" after each ratio), ratio to bare = req/s / req/s of the bare app of the same adapter in the same round, ratio to floor = the same against the floor app (the same routes with a hand-written session and no library) of the same adapter. The targets are judged on the app's CPU per request at the fixed rate (see "CPU per request at equal load"): at saturation each app runs at its own rate, and batching changes what a request costs.`,
    `CPU µs/req: utime+stime of the app process (/proc/<pid>/stat) over the measured run (the fixed-rate run in the CPU table, the saturation run in the throughput table), divided by the responses; Redis and PostgreSQL server CPU is not included. Load gen CPU: the share of its CPU that autocannon used (near 100%, the load generator rather than the app may have set the pace; at ${Math.round(LOADER_BOUND_SHARE * 100)}% or more, median over rounds, the row is marked "loader-bound" and a warning names the case).`,
    'Scenarios: "route without session" GET /none and "read" GET /read send the cookie of a session made by GET /setup (user id, role, 3-item cart; the bare apps get a dummy cookie of the same size); "change" POST /change on that session (nestjs-sessionkit: session.increment("n"); peers: n = (n ?? 0) + 1); "first visit" GET /first without a cookie, setting one value in a new session. All connections of these cases share the one session.',
    `Many sessions: "read (100k sessions)" and "change (100k sessions)" run on the bare apps and the nestjs-sessionkit MemoryStore and RedisStore apps with defaults. Each of these apps starts once, after the one-session rounds, and gets ${int(100_000)} sessions from as many GET /setup?user=<i> requests (each its own user id; 50 keep-alive connections), as long as ${int(100_000)} first visits take; the apps then stay up, idle but for their own case, through ${c.rounds} round(s) in the same rotated, alternating order (the first case of each app gets the longer warm-up). Each request carries the next of the cookies in turn, so the store holds them all and no cache of recent cookies can hold every one; the bare apps get as many distinct dummy cookies of the same size. The bench MemoryStore has maxSessions: 200,000 (default 100,000), so that none of them is evicted by the first-visit sessions made before. These cases are driven by bench/client.ts, a minimal keep-alive HTTP/1.1 client that sends prebuilt requests (autocannon can vary a request only by rebuilding it each time), with the same connections and the same load-generator CPU measurement.`,
    'Peers configured fairly: express-session with resave: false, saveUninitialized: false, rolling: false, cookie { secure: false }, with its MemoryStore, with connect-redis (redis client), with connect-pg-simple (pg Pool of 10, its own table with createTableIfMissing) and with express-mysql-session (mysql2 pool of 10, its own table with createDatabaseTable); @fastify/session (with @fastify/cookie) with saveUninitialized: false, rolling: false, cookie { secure: false } and its memory store. nestjs-sessionkit: SessionModule.forRoot({ secret, cookie: { secure: false }, store }) with defaults otherwise (MemoryStore with maxSessions: 200,000, RedisStore on ioredis, PostgresStore on a pg Pool of 10 with createTable, MysqlStore on a mysql2 pool of 10 with createTable, or ExpressSessionStore over connect-redis on the redis client); their @SessionLock() route is registered only in runs that measure "change with lock", since an app with one gets the module\'s lock guard on every route. Each Redis app uses its own key prefix (bench:<run>:<app>:), removed after each app run; each PostgreSQL app its own table in the schema bench_<run>, each MySQL/MariaDB app its own table bench_<run>_<app>, dropped after each app run (<run>: the process id of the harness, so that two runs never share data).',
    `Lost updates: one session, ${c.connections} connections, ${int(c.lostAmount)} POST /change requests; lost = 2xx responses − final value of n. The load generator sends every request with the cookie from /setup and keeps no cookie it gets back, so with CookieStore (the session in the cookie) each request starts from that cookie's n, as parallel requests of one browser do.`,
  ];
}

// ---------------------------------------------------------------- console

export function consoleReport(report: BenchReport): string {
  const out: string[] = [];
  out.push('');
  out.push(`nestjs-sessionkit benchmark — ${report.mode} run, ${report.date}, took ${formatElapsed(report.elapsedMs)}`);
  out.push(`Machine: ${report.machine}; Node ${report.versions.node}`);
  out.push(...methodLines(report));
  for (const s of report.skipped) out.push(`Skipped: ${s}`);
  for (const n of report.notes) out.push(`Note: ${n}`);
  const cpu = cpuRows(report);
  if (cpu.length > 0) {
    out.push('');
    out.push('CPU per request at equal load (the targets are judged on these):');
    out.push(textTable(CPU_HEADERS, cpu, CPU_NUMERIC, 0));
  }
  if (report.summaries.length > 0) {
    out.push('');
    out.push('Throughput and latency at saturation:');
    out.push(textTable(HEADERS, rowsOf(report), NUMERIC, 0));
    for (const w of loaderWarnings(report)) out.push(`Warning: ${w}`);
  }
  const redisTable = redisRows(report);
  if (redisTable.length > 0) {
    out.push('');
    out.push('Redis per request (commands Redis ran include those inside scripts; "sent" = round trips):');
    out.push(textTable(REDIS_HEADERS, redisTable, new Set([4, 5, 6]), 0));
  }
  const seeding = seedingLine(report);
  if (seeding !== undefined) {
    out.push('');
    out.push(seeding);
  }
  const floors = floorRows(report);
  if (floors.length > 0) {
    out.push('');
    out.push(`Floor (a hand-written session, no library), CPU of the app per request, median over scenarios: ${floorOverview(floors)}.`);
  }
  const interceptor = interceptorRows(report);
  if (interceptor.length > 0) {
    out.push('');
    out.push(INTERCEPTOR_NOTE);
    out.push(textTable(INTERCEPTOR_HEADERS, interceptor, new Set([2, 3, 4, 5, 6, 7]), 0));
  }
  if (report.profiles !== undefined && report.profiles.length > 0) {
    const t = profileTable(report.profiles);
    out.push('');
    out.push('Where the CPU goes (µs per request by category, from short profiled runs):');
    out.push(textTable(t.headers, t.rows, new Set(t.headers.map((_, i) => i).filter((i) => i > 0))));
  }
  if (report.lost.length > 0) {
    out.push('');
    out.push('Lost updates (one session, concurrent changes):');
    out.push(textTable(LOST_HEADERS, lostRows(report), new Set([2, 3, 4, 5])));
  }
  const memory = memoryLines(report);
  if (memory.length > 0) {
    out.push('');
    out.push(...memory);
  }
  const targets = targetRows(report);
  if (targets.length > 0) {
    out.push('');
    out.push(textTable(TARGET_HEADERS, targetTableRows(targets), new Set()));
  }
  out.push('');
  out.push(targetSummary(report));
  out.push('');
  return out.join('\n');
}

function targetSummary(report: BenchReport): string {
  const rows = targetRows(report);
  const judged = rows.filter((r) => r.pass !== undefined);
  const misses = judged.filter((r) => r.pass === false);
  if (judged.length === 0) return 'Targets: none measured in this run.';
  return `Targets: ${judged.length - misses.length} of ${judged.length} met.${misses.length > 0 ? `\nMissed: ${misses.map((r) => `${r.what} ${r.measured} (goal ${r.target})`).join('; ')}.` : ''}`;
}

/** How long seeding the many-sessions cases took, or undefined when none ran. */
function seedingLine(report: BenchReport): string | undefined {
  const seedings = report.seedings ?? [];
  if (seedings.length === 0) return undefined;
  const apps = [...new Set(seedings.map((x) => x.app))];
  const parts = apps.map((name) => {
    const mine = seedings.filter((x) => x.app === name);
    const label = report.apps.find((a) => a.name === name);
    const perSecond = median(mine.map((x) => x.sessions / (x.ms / 1000)));
    return `${label === undefined ? name : `${adapterLabel(label.adapter)} ${label.label}`} ${fixed(median(mine.map((x) => x.ms / 1000)), 1)} s (${int(perSecond)} sessions/s)`;
  });
  return `Seeding the many-sessions cases (${int(seedings[0]!.sessions)} GET /setup?user=<i> requests over 50 keep-alive connections, per app and round, median): ${parts.join('; ')}.`;
}

function formatElapsed(msTotal: number): string {
  const s = Math.round(msTotal / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

// ---------------------------------------------------------------- Express vs Fastify

/**
 * Why bare Express costs several times bare Fastify per request, with this run's figures, and what
 * the harness does to both, so a reader can check that nothing in it inflates the Express side.
 */
function expressFastifyLines(report: BenchReport): string[] {
  // The one-session cases only: autocannon drives them (a minimal client drives the many-sessions cases).
  const bare = (adapter: AdapterName): CaseSummary[] =>
    report.summaries.filter((s) => s.app.adapter === adapter && isBare(s.app) && s.scenario.sessions === undefined);
  const express = bare('express');
  const fastify = bare('fastify');
  const pairs = express.map((e) => [e, fastify.find((f) => f.scenario.name === e.scenario.name)] as const).filter((p): p is readonly [CaseSummary, CaseSummary] => p[1] !== undefined);
  if (pairs.length === 0) return [];
  const cpuRatio = median(pairs.map(([e, f]) => e.cpu.median / f.cpu.median));
  const rpsRatio = median(pairs.map(([e, f]) => f.rps.median / e.rps.median));
  const measured = Number.isFinite(cpuRatio)
    ? `In this run bare Express used ${cpuRatio.toFixed(1)}× the CPU per request of bare Fastify and served ${fixed(1 / rpsRatio, 2)} of its req/s (medians over the ${pairs.length} scenario(s)).`
    : '';
  return [
    '## Why bare Express costs more than bare Fastify',
    '',
    `${measured} The difference is in the frameworks, not in the harness. Express 5 runs every request through its middleware stack (the router walks its list of layers and matches the path of each against a regular expression; NestJS registers Express's JSON and urlencoded body parsers in that stack) and, in \`app.handle\`, swaps the prototypes of Node's \`req\` and \`res\` for Express's own (\`Object.setPrototypeOf\`), which changes their shape on every request and keeps V8's property lookups on them slow. Fastify compiles its routes into a radix tree (find-my-way) at start-up, settles each route's hooks and reply serialiser once there rather than per request, and wraps \`req\` and \`res\` in \`Request\` and \`Reply\` objects of a fixed shape. What the harness does is the same for both: the two bare apps are the same NestJS module with the same controller, differing only in the platform adapter; autocannon sends byte-for-byte identical requests to both (same method, path and headers, and the same cookie header size, a dummy cookie as long as a real session cookie), over ${report.config.connections} keep-alive connections with pipelining 1 on 127.0.0.1; each app runs in a fresh process with NODE_ENV=production, the app and the load generator pinned to their own cores where \`taskset\` exists (${report.coreLayout.split(';')[0]}), with the same warm-up, duration and rounds, in a rotated order. CPU per request is the app process's own utime+stime divided by its responses, so a slower load generator cannot inflate it.`,
    '',
  ];
}

// ---------------------------------------------------------------- markdown

export function markdownReport(report: BenchReport): string {
  const out: string[] = [];
  out.push('# Benchmarks');
  out.push('');
  out.push('What nestjs-sessionkit costs an app per request, in CPU at equal load and in throughput at saturation, against the same NestJS app without sessions, hand-written sessions (in memory, on Redis, on PostgreSQL) and the session libraries users would otherwise pick. Generated by the harness in `bench/`; do not edit by hand.');
  out.push('');
  out.push('![App CPU per request at equal load: bare, the floor\'s addition, the library\'s](benchmarks.svg)');
  out.push('');
  out.push('## How it was run');
  out.push('');
  out.push('```sh');
  out.push(report.command);
  out.push('```');
  out.push('');
  out.push(`- Date: ${report.date}; the run took ${formatElapsed(report.elapsedMs)}.`);
  out.push(`- Machine: ${report.machine}.`);
  for (const line of methodLines(report)) out.push(`- ${line}`);
  for (const s of report.skipped) out.push(`- Skipped: ${s}`);
  for (const n of report.notes) out.push(`- Note: ${n}`);
  out.push('');
  out.push('Versions:');
  out.push('');
  out.push(markdownTable(['Package', 'Version'], Object.entries(report.versions), new Set()));
  out.push('');
  const cpu = cpuRows(report);
  if (cpu.length > 0) {
    out.push('## CPU per request at equal load');
    out.push('');
    out.push(CPU_NOTE);
    out.push('');
    out.push(markdownTable(CPU_HEADERS, cpu, CPU_NUMERIC));
    out.push('');
  }
  out.push('## Throughput and latency at saturation');
  out.push('');
  out.push(markdownTable(HEADERS, rowsOf(report), NUMERIC));
  out.push('');
  const warnings = loaderWarnings(report);
  if (warnings.length > 0) {
    for (const w of warnings) out.push(`> **Warning:** ${w}`, '>');
    out.pop();
    out.push('');
  }
  out.push(...expressFastifyLines(report));
  const redisTable = redisRows(report);
  if (redisTable.length > 0) {
    out.push('## Redis per request');
    out.push('');
    out.push(REDIS_NOTE);
    out.push('');
    out.push(markdownTable(REDIS_HEADERS, redisTable, new Set([4, 5, 6])));
    out.push('');
  }
  const seeding = seedingLine(report);
  if (seeding !== undefined) {
    out.push(seeding);
    out.push('');
  }
  if (report.profiles !== undefined && report.profiles.length > 0) {
    const t = profileTable(report.profiles);
    out.push('## Where the CPU goes');
    out.push('');
    out.push(PROFILE_NOTE);
    out.push('');
    out.push(markdownTable(t.headers, t.rows, new Set(t.headers.map((_, i) => i).filter((i) => i > 0))));
    out.push('');
  }
  const floors = floorRows(report);
  if (floors.length > 0) {
    out.push('## The floor: a session written by hand');
    out.push('');
    out.push(FLOOR_NOTE);
    out.push('');
    out.push(`Measured in this run (CPU of the app process per request, medians over rounds): ${floorOverview(floors)}.${kitAgainstFloor(report)}`);
    out.push('');
    out.push(markdownTable(FLOOR_HEADERS, floorTableRows(floors), new Set([2, 3, 4, 5, 6])));
    out.push('');
  }
  const interceptor = interceptorRows(report);
  if (interceptor.length > 0) {
    out.push('## The global interceptor');
    out.push('');
    out.push(INTERCEPTOR_NOTE);
    out.push('');
    out.push(markdownTable(INTERCEPTOR_HEADERS, interceptor, new Set([2, 3, 4, 5, 6, 7])));
    out.push('');
  }
  if (report.lost.length > 0) {
    out.push('## Lost updates');
    out.push('');
    out.push(markdownTable(LOST_HEADERS, lostRows(report), new Set([2, 3, 4, 5])));
    out.push('');
  }
  const memory = memoryLines(report);
  if (memory.length > 0) {
    out.push('## Memory and scale');
    out.push('');
    out.push('```text');
    out.push(...memory);
    out.push('```');
    out.push('');
  }
  out.push('## Targets');
  out.push('');
  const targets = targetRows(report);
  if (targets.length > 0) {
    out.push(markdownTable(TARGET_HEADERS, targetTableRows(targets), new Set()));
    out.push('');
  }
  out.push(targetSummary(report));
  out.push('');
  out.push(...missLines(report));
  return out.join('\n');
}

const PROFILE_NOTE =
  'One short run per scenario and adapter of the nestjs-sessionkit MemoryStore app under `node --cpu-prof` (sampling every 250 µs), after a warm-up; the samples taken while the load generator ran are summed by category and divided by the responses of that run. A sample counts for the function that was running: the library\'s functions by file and name (the Cookie header read, the HMAC check of a received cookie and its store handle, a new id with its HMAC and handle, the stores, the session handle and value checks and the patch, the Set-Cookie value), packages by their folder under node_modules, Node\'s own modules as Node. V8 builtins and Node\'s crypto and buffer code count for the library function that called them; `JSON.parse`, `JSON.stringify` and `structuredClone` show no frame of their own, so their time is told apart by the source line of the library function that called them. The profiler adds its own cost, so the totals are above the CPU µs/req of the table above; compare categories within a column. `npm run bench -- --profile=<scenario> --apps=<app>` prints the same table, and the functions with the most self time, for any case; the profiles stay in bench-dist/profiles/.';

const FLOOR_NOTE =
  'The "hand-written session, no library (floor)" app of each adapter (bench/apps/minimal.ts) is the smallest Nest app that does a session\'s work: the same routes, each finding the `sid` cookie in the Cookie header, checking its HMAC-SHA256 once (later a Map lookup), reading or changing one entry of a plain Map, and on a first visit drawing 32 random bytes, signing them and setting the cookie. It has no expiry, no change tracking, no save before the headers, no store interface, no size or value checks and no eviction: it is what any session layer in a Nest app costs at the least, so a target above the floor\'s own ratio to bare is out of reach for any library. "ratio to floor" is what nestjs-sessionkit costs beyond that minimum. The Redis floor (bench/apps/minimal-redis.ts) keeps the session in a Redis hash through ioredis: one `HGETALL` per read (every field JSON-parsed), that `HGETALL` and one `HSET` per change, one `HSET` per first visit; the PostgreSQL floor (bench/apps/minimal-postgres.ts) one query per request through pg (`SELECT`, `UPDATE ... RETURNING`, `INSERT` on a table of id and jsonb). Apps on Redis and PostgreSQL are compared with the floor of their store. The bare app with a no-op global interceptor (a global interceptor returning `next.handle()`) is what Nest\'s interceptor pipeline alone costs, the yardstick of a library\'s own global interceptor on the route without session. Two hand-written variants of the in-memory floor (same cookie, same checks, no library) tell the library\'s structural costs apart. "Hand-written session kept as JSON" (bench/apps/minimal.ts, on request: `--apps=express-minimal-copy,fastify-minimal-copy`) keeps each session as JSON, parsed on every read and parsed and written again on every change: what MemoryStore\'s guarantee that no object is shared between the store and a request costs. "Hand-written session doing the library\'s work" (bench/apps/minimal-same.ts, in every run) does the floor\'s work in nestjs-sessionkit\'s shape: the session is loaded only on the routes that ask for it, by a parameter decorator (`createParamDecorator`), as a copy parsed from JSON and held on the request; a global interceptor (`APP_INTERCEPTOR`) saves it as JSON after the handler and before the response is written, only if the handler changed it, and sets the signed cookie of a new one; the route without session parses nothing. Its "above floor" is what that shape costs in Nest; how far a MemoryStore app is above it (the note column of the CPU table, and the notes on missed targets) is what the library\'s own code adds. The MemoryStore targets stay judged against the floor, as the issue sets them.';

/** How nestjs-sessionkit's default MemoryStore app did against the floor, per adapter, from this run's medians. */
function kitAgainstFloor(report: BenchReport): string {
  const parts: string[] = [];
  for (const adapter of ['fastify', 'express'] as const) {
    const mine = report.summaries.filter(
      (s) => s.app.adapter === adapter && s.app.library === 'nestjs-sessionkit' && s.app.store === 'memory' && s.app.option === undefined && s.floorRatio != null && s.scenario.sessions === undefined,
    );
    if (mine.length === 0) continue;
    parts.push(`${adapterLabel(adapter)}: ${mine.map((s) => `${s.scenario.label} ${s.floorRatio!.median.toFixed(2)}`).join(', ')}`);
  }
  return parts.length === 0 ? '' : ` nestjs-sessionkit MemoryStore, req/s ÷ floor req/s: ${parts.join('; ')}.`;
}

/**
 * For a MemoryStore miss: how much of the excess over the floor the same-work app (the floor's work
 * in the library's shape, by hand) has too, and how far the library is above it; '' without one.
 */
function sameWorkText(report: BenchReport, s: CaseSummary): string {
  const sameWork = report.summaries.find((x) => x.scenario.name === s.scenario.name && x.app.adapter === s.app.adapter && isMemorySameWork(x.app));
  if (s.aboveSameWork === undefined || sameWork?.aboveFloor == null) return '';
  const range = (st: Stat): string => (s.rounds > 1 && Number.isFinite(st.q1) ? ` (IQR ${signedUs(st.q1)}…${signedUs(st.q3)})` : '');
  const shape = sameWork.aboveFloor;
  let text = ` The same work written by hand in the library's shape (bench/apps/minimal-same.ts: loaded by a parameter decorator as a copy parsed from JSON, saved as JSON by a global interceptor before the response) is ${signedUs(shape.median)} µs${range(shape)} above the floor: the cost of that shape in Nest (interceptor pipeline, parameter decorator, JSON copy)`;
  if (s.target !== undefined && shape.median > s.target.limit) text += `, alone above the limit of ${s.target.limit} µs`;
  const above = s.aboveSameWork.median;
  text +=
    above > 0
      ? `. nestjs-sessionkit is ${fixed(above, 1)} µs above that app${range(s.aboveSameWork)}: what the library's own code adds.`
      : `. nestjs-sessionkit is ${fixed(-above, 1)} µs below that app${range(s.aboveSameWork)}: the whole excess is the shape's.`;
  return text;
}

/** The categories of the session layer in a profile, for the notes on missed targets. */
const SESSION_CATEGORIES = ['cookie', 'signature', 'newId', 'store', 'serialization', 'tracking', 'setCookie', 'kitOther'] as const;

/** One note per missed target, made of this run's figures only. */
function missLines(report: BenchReport): string[] {
  const out = ['## Where the targets are missed, and why', ''];
  const misses = report.summaries.filter((s) => s.pass === false);
  const other = targetRows(report).filter((r) => r.pass === false && !misses.some((s) => r.what.startsWith(`${s.scenario.label}, ${adapterLabel(s.app.adapter)}, ${s.app.label}: CPU µs/req at ${int(s.rate ?? NaN)} req/s, ${s.target!.rule}`)));
  if (misses.length === 0 && other.length === 0) {
    out.push(targetRows(report).length === 0 ? 'No target was measured in this run.' : 'Every target measured in this run was met.');
    out.push('');
    return out;
  }
  out.push('Each note uses this run\'s figures (medians over rounds); the profile figures come from the short profiled runs above and include the profiler\'s own cost.');
  out.push('');
  for (const s of misses) {
    const t = s.target!;
    let line = `- **${s.scenario.label}, ${adapterLabel(s.app.adapter)}, ${s.app.label}:** ${t.rule} = ${signedUs(t.excess.median)} µs of CPU per request at ${int(s.rate ?? NaN)} req/s against a limit of ${t.limit} µs.`;
    line += ` The app used ${fixed(s.cpuAtRate?.median ?? NaN, 1)} µs per request (${signedUs(s.aboveBare?.median ?? NaN)} above bare, ${signedUs(s.aboveFloor?.median ?? NaN)} above its floor).`;
    if (s.sustained === false) line += ' It did not sustain the fixed rate, so the figure is its CPU at saturation: lower the rate.';
    line += sameWorkText(report, s);
    const profile = report.profiles?.find((p) => p.scenario === s.scenario.name && p.app.startsWith(s.app.adapter));
    if (profile !== undefined) {
      const session = SESSION_CATEGORIES.map((c) => [c, profile.usPerRequest[c]] as const)
        .filter(([, us]) => us >= 0.5)
        .sort((a, b) => b[1] - a[1])
        .map(([c, us]) => `${CATEGORY_LABELS[c]} ${usText(us)}`);
      const sessionTotal = SESSION_CATEGORIES.reduce((sum, c) => sum + profile.usPerRequest[c], 0);
      line += ` In the profile of this scenario on ${adapterLabel(s.app.adapter)} (MemoryStore) the session layer took ${usText(sessionTotal)} of ${usText(profile.totalUs)} sampled µs per request${session.length > 0 ? `: ${session.join(', ')}` : ''}; garbage collection ${usText(profile.usPerRequest.gc)}.`;
    }
    if (s.redis !== undefined) {
      line += ` Redis: ${s.redis.sent.toFixed(2)} command(s) sent per request, ${s.redis.total.toFixed(2)} run, ${fixed(s.redis.cpuUs, 1)} µs of Redis CPU per request.`;
    }
    out.push(line);
  }
  for (const r of other) out.push(`- **${r.what}:** ${r.measured} against a goal of ${r.target}.`);
  out.push('');
  return out;
}

// ---------------------------------------------------------------- SVG chart

const COLORS: Record<string, string> = {
  'nestjs-sessionkit/memory': '#2563eb',
  'nestjs-sessionkit/redis': '#60a5fa',
  'express-session/memory': '#ea580c',
  'express-session/redis': '#fdba74',
  'nestjs-sessionkit/postgres': '#1e3a8a',
  'nestjs-sessionkit/cookie': '#7c3aed',
  'express-session/postgres': '#9a3412',
  'nestjs-sessionkit/mysql': '#0e7490',
  'express-session/mysql': '#b45309',
  '@fastify/session/memory': '#16a34a',
  bare: '#6b7280',
  floorPart: '#d1d5db',
};

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * Horizontal stacked bars, per scenario and adapter: each app's CPU µs per request at the fixed
 * rate, split into bare (what the app without sessions costs), the floor's addition (what a
 * hand-written session on the same store adds) and the rest (what the library adds beyond it),
 * with a tick at the target where the issue sets one.
 */
export function svgChart(report: BenchReport): string {
  // The hand-written variants of the floor (JSON copy, same work) are yardsticks of the notes, not bars.
  const rows = report.summaries.filter((s) => s.cpuAtRate !== null && !isBare(s.app) && s.app.option !== 'noopInterceptor' && s.app.option !== 'jsonCopy' && s.app.option !== 'sameWork');
  /** Median over rounds of the CPU at `rate` of the first app `match` finds in the scenario. */
  const cpuOf = (scenario: ScenarioName, rate: number | undefined, match: (a: AppSpec) => boolean): number | undefined => {
    const app = report.apps.find(match);
    if (app === undefined || rate === undefined) return undefined;
    const values = report.rounds.filter((r) => r.app === app.name && r.scenario === scenario).map((r) => cpuAt(r, rate)).filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const labelWidth = 360;
  const barWidth = 460;
  const limitOf = (s: CaseSummary): number | undefined => (s.target === undefined ? undefined : s.cpuAtRate!.median - s.target.excess.median + s.target.limit);
  const maxUs = Math.max(10, ...rows.map((r) => Math.max(r.cpuAtRate!.median, limitOf(r) ?? 0)));
  const scale = barWidth / (maxUs * 1.05);
  const rowHeight = 18;
  const width = labelWidth + barWidth + 80;
  const parts: string[] = [];
  let y = 48;
  let previous: string | undefined;
  let previousAdapter: AdapterName | undefined;
  for (const s of rows) {
    if (s.scenario.name !== previous) {
      y += previous === undefined ? 0 : 10;
      parts.push(`<text x="8" y="${y + 13}" font-weight="bold">${xmlEscape(s.scenario.label)}</text>`);
      y += rowHeight + 2;
      previous = s.scenario.name;
    } else if (s.app.adapter !== previousAdapter) {
      y += 6;
    }
    previousAdapter = s.app.adapter;
    const total = s.cpuAtRate!.median;
    const bare = Math.min(total, cpuOf(s.scenario.name, s.rate, (a) => a.adapter === s.app.adapter && isBare(a)) ?? 0);
    const floorCpu = s.app.floor ? total : (cpuOf(s.scenario.name, s.rate, (a) => a.adapter === s.app.adapter && a.floor === true && a.store === floorStoreOf(s.app)) ?? bare);
    const floorPart = Math.max(0, Math.min(floorCpu, total) - bare);
    const ours = Math.max(0, total - bare - floorPart);
    const color = s.app.floor ? COLORS.floorPart! : (COLORS[`${s.app.library}/${s.app.store}`] ?? '#888');
    const segments: Array<[number, string, string]> = [
      [bare, COLORS.bare!, `bare ${fixed(bare, 1)} µs`],
      [floorPart, COLORS.floorPart!, `the floor adds ${fixed(floorPart, 1)} µs`],
      ...(s.app.floor ? [] : ([[ours, color, `${s.app.label} adds ${fixed(ours, 1)} µs beyond the floor`]] as Array<[number, string, string]>)),
    ];
    parts.push(`<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${xmlEscape(`${adapterLabel(s.app.adapter)} · ${s.app.label}`)}</text>`);
    let x = labelWidth;
    for (const [us, fill, title] of segments) {
      const w = us * scale;
      if (w <= 0) continue;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowHeight - 4}" fill="${fill}"><title>${xmlEscape(title)}</title></rect>`);
      x += w;
    }
    const limit = limitOf(s);
    if (limit !== undefined) {
      const tx = labelWidth + limit * scale;
      parts.push(`<line x1="${tx.toFixed(1)}" x2="${tx.toFixed(1)}" y1="${y}" y2="${y + rowHeight}" stroke="#111" stroke-width="2"><title>target ${fixed(limit, 1)} µs (${xmlEscape(s.target!.rule)} ≤ ${s.target!.limit} µs)</title></line>`);
    }
    const textX = labelWidth + Math.max(total * scale, limit === undefined ? 0 : limit * scale + 2) + 6;
    parts.push(`<text x="${textX.toFixed(1)}" y="${y + 13}">${fixed(total, 0)} µs${s.pass === false ? ' ✗' : s.pass === true ? ' ✓' : ''}${s.sustained === false ? ' (rate not sustained)' : ''}</text>`);
    y += rowHeight;
  }
  const top = 44;
  const grid: string[] = [];
  const step = maxUs > 400 ? 100 : maxUs > 150 ? 50 : maxUs > 60 ? 20 : 10;
  for (let t = 0; t <= maxUs * 1.05; t += step) {
    const gx = labelWidth + t * scale;
    grid.push(`<line x1="${gx.toFixed(1)}" x2="${gx.toFixed(1)}" y1="${top}" y2="${y + 4}" stroke="#e5e7eb"/>`);
    grid.push(`<text x="${gx.toFixed(1)}" y="${y + 18}" text-anchor="middle" fill="#555">${t}</text>`);
  }
  let ly = y + 40;
  const legend: string[] = [];
  let lx = 8;
  const legendItems: Array<[string, string]> = [
    ['bare NestJS app', COLORS.bare!],
    ['added by the hand-written session (floor) of the same store', COLORS.floorPart!],
    ['nestjs-sessionkit MemoryStore', COLORS['nestjs-sessionkit/memory']!],
    ['nestjs-sessionkit RedisStore', COLORS['nestjs-sessionkit/redis']!],
    ['nestjs-sessionkit PostgresStore', COLORS['nestjs-sessionkit/postgres']!],
    ...(report.apps.some((a) => a.store === 'cookie') ? [['nestjs-sessionkit CookieStore', COLORS['nestjs-sessionkit/cookie']!] as [string, string]] : []),
    ...(report.apps.some((a) => a.store === 'mysql') ? [['nestjs-sessionkit MysqlStore', COLORS['nestjs-sessionkit/mysql']!] as [string, string]] : []),
    ['express-session MemoryStore', COLORS['express-session/memory']!],
    ['express-session + connect-redis', COLORS['express-session/redis']!],
    ['express-session + connect-pg-simple', COLORS['express-session/postgres']!],
    ...(report.apps.some((a) => a.store === 'mysql') ? [['express-session + express-mysql-session', COLORS['express-session/mysql']!] as [string, string]] : []),
    ['@fastify/session', COLORS['@fastify/session/memory']!],
  ];
  for (const [label, color] of legendItems) {
    const itemWidth = 22 + label.length * 6.6;
    if (lx + itemWidth > width) {
      lx = 8;
      ly += 18;
    }
    legend.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/><text x="${lx + 16}" y="${ly}">${xmlEscape(label)}</text>`);
    lx += itemWidth + 12;
  }
  ly += 18;
  legend.push(`<line x1="8" x2="8" y1="${ly - 11}" y2="${ly + 2}" stroke="#111" stroke-width="2"/><text x="16" y="${ly}">target for nestjs-sessionkit (✓ met, ✗ missed): the app's CPU per request may reach this</text>`);
  const height = ly + 14;
  const rate = report.config.rate;
  const title = 'App CPU µs per request at equal load: bare, the floor\'s addition, the library\'s (lower is better)';
  const subtitle = `${report.mode} run, ${report.date.slice(0, 10)}, median of ${report.config.rounds} round(s) of ${report.config.rateDuration ?? report.config.duration} s at ${rate === undefined ? 'a fixed rate' : `${int(rate.express)} req/s (Express) and ${int(rate.fastify)} req/s (Fastify)${report.config.sqlRate === undefined ? '' : `, ${int(report.config.sqlRate)} req/s for apps on SQL databases`}`}; ${report.machine}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="18" font-size="13" font-weight="bold">${xmlEscape(title)}</text>`,
    `<text x="8" y="34" font-size="11" fill="#555">${xmlEscape(subtitle)}</text>`,
    ...grid,
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
