import type { SessionStore } from '../stores/session-store.interface.js';

/**
 * Destroys the oldest sessions of `user` (by creation time) so that, with the session being
 * logged in, at most `max` remain (`maxSessionsPerUser`). Sessions in `keep` (the one being
 * written, and the one it moves from) are neither counted twice nor destroyed. Does nothing on a
 * store without `listByUser`.
 */
export async function makeRoomForLogin(store: SessionStore, user: string, max: number, keep: readonly string[]): Promise<void> {
  if (!store.listByUser) return;
  const others = (await store.listByUser(user)).filter((entry) => !keep.includes(entry.handle));
  const excess = others.length + 1 - max;
  if (excess <= 0) return;
  others.sort((a, b) => a.createdAt - b.createdAt || a.touchedAt - b.touchedAt);
  await Promise.all(others.slice(0, excess).map((entry) => store.destroy(entry.handle)));
}
