/**
 * The load generator: runs autocannon once in its own process (the harness pins it to its own
 * core) and prints one JSON line (`LoadResult`). Usage: `node bench-dist/bench/loader.js '<LoadJob JSON>'`.
 */
import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './common.js';

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as LoadJob;
  const options: autocannon.Options = {
    url: job.url,
    method: job.method,
    headers: job.headers,
    connections: job.connections,
    pipelining: 1,
    timeout: 10,
  };
  if (job.amount !== undefined) options.amount = job.amount;
  else options.duration = job.duration ?? 10;
  const cpuBefore = process.cpuUsage();
  const result = await autocannon(options);
  const cpu = process.cpuUsage(cpuBefore);
  const counts = result as unknown as Record<string, number>;
  const out: LoadResult = {
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
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
