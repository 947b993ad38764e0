/**
 * Where an app's CPU goes per request: reads a `.cpuprofile` written by `node --cpu-prof`, keeps
 * the samples taken while the load generator ran, sums their self time per category and divides
 * by the responses of that run.
 *
 * V8 runs `JSON.parse`, `JSON.stringify` and `structuredClone` as builtins that show no frame of
 * their own: their time is the self time of the function that called them. For the library's
 * functions it is told apart by source line (the profile's `positionTicks`): the share of a
 * function's ticks on lines that call one of them counts as serialization and cloning.
 *
 * A sample is classified by its own frame (the function that was running): by the frame's file
 * (nestjs-sessionkit's build, a package under node_modules, Node's own `node:` modules) and, in
 * nestjs-sessionkit, by function. Frames without a file (V8 builtins such as `JSON.parse`, native
 * bindings such as `writev`) and Node's crypto and buffer code take the category of the nearest
 * caller that has one, so `JSON.parse` in MemoryStore counts as serialization and an HMAC's
 * `digest` in the cookie check as the signature check.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Source lines that serialize or clone. */
const SERIALIZING_LINE = /\bJSON\.(parse|stringify)\(|\bstructuredClone\(/;

/**
 * The share of `node`'s self-time ticks on lines of its file that serialize or clone (0 when the
 * profile has no line ticks or the file cannot be read).
 */
function serializingShare(node: ProfileNode, sources: Map<string, string[] | null>): number {
  const ticks = node.positionTicks;
  if (ticks === undefined || ticks.length === 0) return 0;
  let lines = sources.get(node.callFrame.url);
  if (lines === undefined) {
    try {
      lines = readFileSync(fileURLToPath(node.callFrame.url), 'utf8').split('\n');
    } catch {
      lines = null;
    }
    sources.set(node.callFrame.url, lines);
  }
  if (lines === null) return 0;
  let all = 0;
  let serializing = 0;
  for (const t of ticks) {
    all += t.ticks;
    if (SERIALIZING_LINE.test(lines[t.line - 1] ?? '')) serializing += t.ticks;
  }
  return all === 0 ? 0 : serializing / all;
}

export const CATEGORIES = [
  'cookie',
  'signature',
  'newId',
  'store',
  'storeClient',
  'serialization',
  'tracking',
  'setCookie',
  'kitOther',
  'nest',
  'framework',
  'node',
  'gc',
  'other',
] as const;
export type Category = (typeof CATEGORIES)[number];

export const CATEGORY_LABELS: Record<Category, string> = {
  cookie: 'cookie parsing (Cookie header)',
  signature: 'signature check (HMAC verify, store handle)',
  newId: 'new id (random bytes, HMAC, store handle)',
  store: 'store get/set (nestjs-sessionkit stores)',
  storeClient: 'store client (ioredis, redis, pg, mysql2)',
  serialization: 'serialization and cloning (JSON, structuredClone)',
  tracking: 'change tracking (session handle, values, patch)',
  setCookie: 'Set-Cookie building',
  kitOther: 'rest of nestjs-sessionkit',
  nest: 'NestJS (@nestjs/*, rxjs)',
  framework: 'HTTP framework (express, fastify, ...)',
  node: 'Node http/net/stream and other Node internals',
  gc: 'garbage collection',
  other: 'other (app code, V8 without a JS frame)',
};

interface CallFrame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  /** Self-time ticks by source line (1-based), over the whole profile. */
  positionTicks?: Array<{ line: number; ticks: number }>;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileResult {
  app: string;
  scenario: string;
  /** Responses in the profiled window. */
  requests: number;
  /** The profiled window, seconds. */
  seconds: number;
  /** Sampled time per request per category, µs (idle left out). */
  usPerRequest: Record<Category, number>;
  /** Sum over the categories, µs per request (more than the unprofiled CPU per request: the profiler costs too). */
  totalUs: number;
  /** Where the profile was written. */
  file: string;
  /** The functions with the most self time in the window: label, category, µs per request. */
  top: Array<{ frame: string; category: Category; us: number }>;
}

type Kind = 'native' | 'node' | 'kit' | 'nest' | 'storeClient' | 'cookiePackage' | 'framework' | 'app';

/** V8 builtins that (de)serialize or clone: their time goes to serialization when the library calls them. */
const SERIALIZING = new Set(['parse', 'stringify', 'JSON.parse', 'JSON.stringify', 'structuredClone', 'serialize', 'deserialize', 'writeValue', 'readValue']);

/** Categories of the library specific enough to take over the Node and native frames it calls. */
const SPECIFIC = new Set<Category>(['cookie', 'signature', 'newId', 'store', 'serialization', 'tracking', 'setCookie']);

/** Classifies the samples of `profile`; `root` is the repository (the library runs from its dist/ or lib/). */
export function classifier(profile: CpuProfile, root: string): (id: number) => Category {
  const rootUrl = pathToFileURL(root).href;
  const kitPrefixes = [`${rootUrl}/dist/`, `${rootUrl}/lib/`];
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }

  const kindOf = (url: string): Kind => {
    if (url === '') return 'native';
    if (url.startsWith('node:')) return 'node';
    if (kitPrefixes.some((p) => url.startsWith(p))) return 'kit';
    const nm = url.lastIndexOf('/node_modules/');
    if (nm === -1) return 'app';
    const pkg = url.slice(nm + '/node_modules/'.length);
    if (pkg.startsWith('@nestjs/') || pkg.startsWith('rxjs/') || pkg.startsWith('reflect-metadata/')) return 'nest';
    if (/^(ioredis|redis|@redis\/|pg|pg-[a-z-]+|pgpass|postgres-[a-z-]+|redis-errors|redis-parser|cluster-key-slot|denque|standard-as-callback|mysql2|sqlstring|named-placeholders|lru\.min|seq-queue|iconv-lite|long|generate-function)\//.test(pkg)) return 'storeClient';
    if (pkg.startsWith('cookie/')) return 'cookiePackage';
    return 'framework';
  };

  /** The library file (relative to dist/esm/, dist/cjs/ or lib/) of a frame's url. */
  const kitFile = (url: string): string => url.replace(/^.*?\/(?:dist\/(?:esm|cjs)|lib)\//, '').replace(/\.(js|ts)$/, '');

  const memo = new Map<number, Category>();
  /** The nearest ancestor of `id` whose frame kind is not in `skip`. */
  const ancestor = (id: number, skip: ReadonlySet<Kind>): number | undefined => {
    let p = parent.get(id);
    while (p !== undefined && skip.has(kindOf(byId.get(p)!.callFrame.url))) p = parent.get(p);
    return p;
  };
  const NATIVE = new Set<Kind>(['native']);
  const NATIVE_NODE = new Set<Kind>(['native', 'node']);

  const kitCategory = (id: number): Category => {
    const frame = byId.get(id)!.callFrame;
    const file = kitFile(frame.url);
    const fn = frame.functionName;
    if (file === 'http/session-cookie') {
      if (fn === 'read' || fn === 'valueOf') return 'cookie';
      if (fn === 'verify' || fn === 'remember' || fn === 'compact' || fn === 'cacheBytes') return 'signature';
      if (fn === 'newSessionId') return 'newId';
      if (fn === 'issue' || fn === 'serialize' || fn === 'clear') return 'setCookie';
      if (fn === 'sign' || fn === 'sessionHandle') {
        // Signing and hashing serve the check of a received cookie under verify(), a new id otherwise.
        for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
          const f = byId.get(p)!.callFrame;
          if (kindOf(f.url) === 'kit' && kitFile(f.url) === 'http/session-cookie' && f.functionName === 'verify') return 'signature';
        }
        return 'newId';
      }
      return 'cookie';
    }
    if (file.startsWith('stores/')) return 'store';
    if (file === 'core/session.handle' || file === 'core/session-value' || fn === 'buildPatch') return 'tracking';
    return 'kitOther';
  };

  const classify = (id: number): Category => {
    const cached = memo.get(id);
    if (cached !== undefined) return cached;
    const frame = byId.get(id)!.callFrame;
    let category: Category;
    if (frame.functionName === '(garbage collector)') category = 'gc';
    else if (frame.functionName === '(program)' || frame.functionName === '(root)' || frame.functionName === '(idle)') category = 'other';
    else {
      const kind = kindOf(frame.url);
      switch (kind) {
        case 'native': {
          const caller = ancestor(id, NATIVE);
          if (caller === undefined) category = 'other';
          else if (SERIALIZING.has(frame.functionName) && (kindOf(byId.get(caller)!.callFrame.url) === 'kit' || classify(caller) === 'store')) category = 'serialization';
          else category = classify(caller);
          break;
        }
        case 'node': {
          // Crypto, buffers, timers called by a specific part of the library count as that part; the rest is Node's.
          const caller = ancestor(id, NATIVE_NODE);
          const theirs = caller !== undefined && kindOf(byId.get(caller)!.callFrame.url) === 'kit' ? classify(caller) : undefined;
          category = theirs !== undefined && SPECIFIC.has(theirs) ? theirs : 'node';
          break;
        }
        case 'kit':
          category = kitCategory(id);
          break;
        case 'nest':
          category = 'nest';
          break;
        case 'storeClient':
          category = 'storeClient';
          break;
        case 'cookiePackage': {
          const caller = ancestor(id, new Set<Kind>(['native', 'node', 'cookiePackage']));
          category = caller !== undefined && kindOf(byId.get(caller)!.callFrame.url) === 'kit' ? 'setCookie' : 'framework';
          break;
        }
        case 'framework':
          category = 'framework';
          break;
        case 'app':
          category = 'other';
          break;
      }
    }
    memo.set(id, category);
    return category;
  };
  return classify;
}

/**
 * Analyses the profile in `file`: the samples between `fromUs` and `toUs` (CLOCK_MONOTONIC µs, the
 * clock of `process.hrtime` and of the profile's timestamps), divided by `requests`.
 */
export function analyseProfile(file: string, root: string, fromUs: number, toUs: number, requests: number, app: string, scenario: string): ProfileResult {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const classify = classifier(profile, root);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const rootUrl = pathToFileURL(root).href;
  const isKit = (url: string): boolean => url.startsWith(`${rootUrl}/dist/`) || url.startsWith(`${rootUrl}/lib/`);
  const sources = new Map<string, string[] | null>();
  const shares = new Map<number, number>();
  const totals = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const perFrame = new Map<string, { category: Category; us: number }>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    // A sample stands for the time until the next one.
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t > toUs) continue;
    const node = byId.get(profile.samples[i]!)!;
    if (node.callFrame.functionName === '(idle)') continue;
    const category = classify(node.id);
    let share = 0;
    if (isKit(node.callFrame.url)) {
      share = shares.get(node.id) ?? serializingShare(node, sources);
      shares.set(node.id, share);
    }
    totals[category] += duration * (1 - share);
    totals.serialization += duration * share;
    const where = node.callFrame.url === '' ? '' : ` ${node.callFrame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(dist|lib)\//, '$1/')}`;
    const key = `${node.callFrame.functionName || '(anonymous)'}${where}`;
    const entry = perFrame.get(key) ?? { category, us: 0 };
    entry.us += duration;
    perFrame.set(key, entry);
  }
  const n = Math.max(1, requests);
  const usPerRequest = Object.fromEntries(CATEGORIES.map((c) => [c, totals[c] / n])) as Record<Category, number>;
  const top = [...perFrame.entries()]
    .sort((a, b) => b[1].us - a[1].us)
    .slice(0, 15)
    .map(([frame, e]) => ({ frame, category: e.category, us: e.us / n }));
  return {
    app,
    scenario,
    requests,
    seconds: (toUs - fromUs) / 1e6,
    usPerRequest,
    totalUs: CATEGORIES.reduce((sum, c) => sum + usPerRequest[c], 0),
    file,
    top,
  };
}

/** µs per request in a table cell: one decimal below 10. */
export function usText(us: number): string {
  if (!Number.isFinite(us)) return 'n/a';
  return us >= 10 ? us.toFixed(0) : us.toFixed(1);
}

/** The category table of one profiled case, for the console. */
export function profileConsoleTable(result: ProfileResult): string {
  const lines = [`Profile of ${result.app}, ${result.scenario}: ${result.requests.toLocaleString('en-US')} responses in ${result.seconds.toFixed(1)} s; sampled CPU ${usText(result.totalUs)} µs/request (profiler included)`];
  const width = Math.max(...CATEGORIES.map((c) => CATEGORY_LABELS[c].length));
  for (const c of CATEGORIES) {
    const us = result.usPerRequest[c];
    lines.push(`  ${CATEGORY_LABELS[c].padEnd(width)}  ${usText(us).padStart(6)} µs  ${((us / result.totalUs) * 100).toFixed(1).padStart(5)}%`);
  }
  lines.push('  Top functions by self time (µs/request):');
  for (const t of result.top) lines.push(`    ${usText(t.us).padStart(6)}  ${t.category.padEnd(13)} ${t.frame}`);
  return lines.join('\n');
}
