import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portIsFree, waitUntil } from './redis.js';
import { redisCli, startRedisProcess, stopRedisProcess } from './redis-server.js';

/** A throwaway Redis Cluster of `ports.length` masters on loopback, owned by one test file. */
export interface TestCluster {
  ports: number[];
  dir: string;
  /** `[{ host, port }]` for `new Cluster(...)`. */
  nodes: { host: string; port: number }[];
  /** Shuts every server down and removes the directory; safe to call twice. */
  stop(): Promise<void>;
}

/** Picks `count` ports in 7100..9999 whose cluster bus ports (port + 10000) are free too. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  let port = 7101 + Math.floor(Math.random() * 200) * 10;
  while (ports.length < count && port < 10_000) {
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) ports.push(port);
    port++;
  }
  if (ports.length < count) throw new Error('No free ports for a test Redis Cluster.');
  return ports;
}

/**
 * Starts `masters` cluster-enabled `redis-server`s (no persistence), joins them with
 * `redis-cli --cluster create` and waits for `cluster_state:ok` on every node. On any failure
 * the servers started so far are stopped again.
 */
export async function startRedisCluster(masters = 3): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cluster-'));
  const ports = await clusterPorts(masters);
  const pids = new Map<number, number>();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await Promise.allSettled([...pids].map(([port, pid]) => stopRedisProcess(port, pid, false)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    for (const port of ports) {
      pids.set(port, await startRedisProcess(port, dir, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000']));
    }
    await redisCli(ports[0]!, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes');
    for (const port of ports) {
      await waitUntil(`cluster_state:ok on ${port}`, async () => (await redisCli(port, 'cluster', 'info')).includes('cluster_state:ok'), 20_000, 100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, dir, nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}
