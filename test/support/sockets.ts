import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';

/** The two WebSocket platforms of Nest. */
export const socketPlatforms = ['socket.io', 'ws'] as const;
export type SocketPlatform = (typeof socketPlatforms)[number];

/** Gives `app` the WebSocket adapter of `platform` (before `init()`). */
export function useSocketPlatform(app: INestApplication, platform: SocketPlatform): void {
  app.useWebSocketAdapter(platform === 'socket.io' ? new IoAdapter(app) : new WsAdapter(app));
}

/** A message the server sent: a reply, or the `exception` event of a refused message. */
export interface SocketMessage {
  event: string;
  data: unknown;
}

/** A real client of either platform, sending the given `Cookie` header in its handshake. */
export interface SocketClient {
  /** Sends `event` and resolves the server's answer to it (its reply or an `exception`). */
  send(event: string, data?: unknown): Promise<SocketMessage>;
  close(): void;
}

const TIMEOUT_MS = 5_000;

function timeout(event: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`No answer to "${event}" within ${TIMEOUT_MS} ms`)), TIMEOUT_MS).unref());
}

export async function connectSocket(platform: SocketPlatform, base: string, cookie: string | undefined, path = '/'): Promise<SocketClient> {
  const headers: Record<string, string> = cookie === undefined ? {} : { cookie };
  if (platform === 'socket.io') {
    const socket: Socket = io(base, {
      path: path === '/' ? '/socket.io' : path,
      transports: ['websocket'],
      extraHeaders: headers,
      forceNew: true,
      reconnection: false,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return {
      send(event, data) {
        const answer = new Promise<SocketMessage>((resolve) => {
          const done = (name: string) => (payload: unknown) => {
            socket.off(event);
            socket.off('exception');
            resolve({ event: name, data: payload });
          };
          socket.once(event, done(event));
          socket.once('exception', done('exception'));
        });
        socket.emit(event, data);
        return Promise.race([answer, timeout(event)]);
      },
      close: () => socket.close(),
    };
  }
  const socket = new WebSocket(base.replace(/^http/, 'ws') + path, { headers });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return {
    send(event, data) {
      const answer = new Promise<SocketMessage>((resolve) => {
        socket.once('message', (raw) => resolve(JSON.parse(String(raw)) as SocketMessage));
      });
      socket.send(JSON.stringify({ event, data }));
      return Promise.race([answer, timeout(event)]);
    },
    close: () => socket.close(),
  };
}
