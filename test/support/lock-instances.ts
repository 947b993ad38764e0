import { expect } from '@jest/globals';
import type { SessionStore } from 'nestjs-sessionkit';
import { newHandle } from '../../lib/testing/session-store.contract.js';

/**
 * Several instances of a store on one backend (as several app instances are): parallel holders of
 * one session's lock, spread over them, get in one at a time, and every one of them gets in (the
 * waiters of one instance see a lock freed by another).
 */
export async function expectInstancesTakeTurns(instances: SessionStore[], holders = 30): Promise<void> {
  const handle = newHandle();
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: holders }, async (_, i) => {
      const store = instances[i % instances.length]!;
      const lease = await store.lock!(handle, { ttlMs: 60_000, waitMs: 20_000 });
      expect(lease).toBeDefined();
      inside++;
      most = Math.max(most, inside);
      await new Promise((resolve) => setTimeout(resolve, 2));
      order.push(i);
      inside--;
      await lease!.release();
    }),
  );
  expect(most).toBe(1);
  expect(order.sort((a, b) => a - b)).toEqual(Array.from({ length: holders }, (_, i) => i));
  // And the lock is free at the end, for any of them.
  const last = await instances[0]!.lock!(handle, { ttlMs: 60_000, waitMs: 0 });
  expect(last).toBeDefined();
  await last!.release();
}
