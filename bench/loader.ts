/**
 * The load generator: runs autocannon once in its own process (the harness pins it to its own
 * core) and prints one JSON line (`LoadResult`). Usage: `node bench-dist/bench/loader.js '<LoadJob JSON>'`.
 * With `warmup` in the job it first drives the same load for that many seconds, prints `warm`,
 * and starts the measured run when a line arrives on standard input (one process per case, so
 * the harness pays one process start per case rather than two). With `runs` in the job it makes
 * several measured runs after the warm-up (the harness's fixed-rate run and saturation run), with
 * a handshake on standard input and output around each (see `LoadJob.runs`). The many-sessions
 * client (`cookiesFile`) runs at saturation only: it has no rate limit.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { loadMany, percentile } from './client.js';
import type { LoadJob, LoadResult } from './common.js';

/** A many-sessions job: each request carries the next cookie of the file, sent by the minimal client. */
async function many(job: LoadJob & { cookiesFile: string }): Promise<LoadResult> {
  const cookies = readFileSync(job.cookiesFile, 'utf8').split('\n').filter(Boolean);
  const url = new URL(job.url);
  const cpuBefore = process.cpuUsage();
  const r = await loadMany(Number(url.port), job.method, url.pathname, cookies, job.connections, job.duration ?? 10);
  const cpu = process.cpuUsage(cpuBefore);
  const round2 = (n: number): number => Math.round(n * 100) / 100;
  return {
    requests: r.requests,
    seconds: r.seconds,
    rps: r.requests / r.seconds,
    p50: round2(percentile(r.latenciesMs, 0.5)),
    p99: round2(percentile(r.latenciesMs, 0.99)),
    status2xx: r.status2xx,
    non2xx: r.non2xx,
    errors: 0,
    timeouts: 0,
    loaderCpuShare: (cpu.user + cpu.system) / 1e6 / r.seconds,
  };
}

async function once(job: LoadJob): Promise<LoadResult> {
  if (job.cookiesFile !== undefined) return many(job as LoadJob & { cookiesFile: string });
  const options: autocannon.Options = {
    url: job.url,
    method: job.method,
    headers: job.headers,
    connections: job.connections,
    pipelining: 1,
    timeout: 10,
  };
  // autocannon's rate limit gives each connection its share of the second's requests, sent as fast
  // as the app answers from the start of each second, then a pause until the next one.
  if (job.rate !== undefined) options.overallRate = job.rate;
  if (job.amount !== undefined) options.amount = job.amount;
  else options.duration = job.duration ?? 10;
  const cpuBefore = process.cpuUsage();
  const result = await autocannon(options);
  const cpu = process.cpuUsage(cpuBefore);
  const counts = result as unknown as Record<string, number>;
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    status2xx: counts['2xx'] ?? 0,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    loaderCpuShare: (cpu.user + cpu.system) / 1e6 / result.duration,
    ...(job.rate === undefined ? {} : { rate: job.rate }),
  };
}

/** Resolves on the next line of standard input. */
function nextLine(): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onData = (chunk: Buffer): void => {
      if (!chunk.includes(10)) return;
      process.stdin.off('data', onData);
      // Nothing more is read: let the process exit when the run is done.
      process.stdin.destroy();
      resolvePromise();
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', () => reject(new Error('standard input closed before the measured run')));
  });
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as LoadJob;
  if (job.runs !== undefined) {
    // The warm-up (at saturation), then each measured run between two handshakes with the harness,
    // which reads the app's CPU time and the Redis counters while the loader waits.
    if (job.warmup !== undefined) await once({ ...job, duration: job.warmup, amount: undefined, rate: undefined });
    const input = lines();
    for (const [i, run] of job.runs.entries()) {
      process.stdout.write(`start ${i}\n`);
      await input.next();
      const result = await once({ ...job, duration: run.duration, amount: undefined, rate: run.rate });
      process.stdout.write(`done ${i} ${JSON.stringify(result)}\n`);
      await input.next();
    }
    process.stdin.destroy();
    return;
  }
  if (job.warmup !== undefined) {
    // The warm-up in the same process, then "warm" on stdout; the measured run starts on a line on stdin,
    // once the harness has noted the app's CPU time and the Redis counters.
    await once({ ...job, duration: job.warmup, amount: undefined });
    process.stdout.write('warm\n');
    await nextLine();
  }
  process.stdout.write(`${JSON.stringify(await once(job))}\n`);
}

/** The lines of standard input, one per `next()`. */
function lines(): { next(): Promise<void> } {
  let buffered = 0;
  let waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  let ended = false;
  process.stdin.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) buffered++;
    if (waiting !== undefined && buffered > 0) {
      buffered--;
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  process.stdin.once('end', () => {
    ended = true;
    waiting?.reject(new Error('standard input closed before the measured run'));
  });
  return {
    next: () =>
      new Promise<void>((resolve, reject) => {
        if (buffered > 0) {
          buffered--;
          resolve();
        } else if (ended) reject(new Error('standard input closed before the measured run'));
        else waiting = { resolve, reject };
      }),
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
