/**
 * What Redis did for a measured run: commands by name (`INFO commandstats`, zeroed by
 * `CONFIG RESETSTAT` before the run) and the server's CPU (`INFO cpu`, used_cpu_sys +
 * used_cpu_user, read before and after; RESETSTAT does not zero it).
 */
import type { Redis } from 'ioredis';

/** Commands the harness itself sends around a run; never counted. */
const HARNESS_COMMANDS = new Set(['info', 'config', 'ping']);

export interface RedisRunStats {
  /** Calls per command name over the run (lower case, e.g. `evalsha`), harness commands left out. */
  calls: Record<string, number>;
  /** Redis server CPU over the run, µs (user + system, all its threads). */
  cpuUs: number;
  /**
   * Commands the app's client sent, by name, where the app counts them (nestjs-sessionkit's ioredis
   * client). `calls` also counts the commands that scripts run inside Redis; these do not.
   */
  sent?: Record<string, number>;
}

async function serverCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6;
}

/** Zeroes the command counters and notes the server's CPU; call right before the measured run. */
export async function startRedisStats(redis: Redis): Promise<() => Promise<RedisRunStats>> {
  await redis.config('RESETSTAT');
  const cpuBefore = await serverCpuUs(redis);
  return async () => {
    const cpuAfter = await serverCpuUs(redis);
    const info = await redis.info('commandstats');
    const calls: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      const name = m[1]!.toLowerCase();
      if (!HARNESS_COMMANDS.has(name.split('|')[0]!)) calls[name] = Number(m[2]);
    }
    return { calls, cpuUs: cpuAfter - cpuBefore };
  };
}

/**
 * Commands the client sent over the run: counted by the app where it can (`sent`); otherwise
 * every command Redis counted, which holds for clients that run no scripts (connect-redis).
 */
export function clientCommands(stats: RedisRunStats): number {
  return Object.values(stats.sent ?? stats.calls).reduce((a, b) => a + b, 0);
}
