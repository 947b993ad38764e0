import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * What the proxy does with connections: `up` forwards them, `refuse` stops listening and drops
 * open ones (a database that is down), `blackhole` accepts and forwards nothing (a database that
 * hangs, or a network that drops packets).
 */
export type ProxyMode = 'up' | 'refuse' | 'blackhole';

/** A loopback TCP proxy a test owns, to make a server unreachable for an app and bring it back. */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private current: ProxyMode = 'up';

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    readonly port: number,
  ) {}

  /** Starts a proxy to `host:port` on a free loopback port. */
  static async start(host: string, port: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(host, port, 0);
    await proxy.listen(0);
    return proxy;
  }

  get mode(): ProxyMode {
    return this.current;
  }

  /** Switches mode; connections opened under another mode are dropped. */
  async set(mode: ProxyMode): Promise<void> {
    if (mode === this.current) return;
    this.current = mode;
    this.dropAll();
    if (mode === 'refuse') await this.close();
    else if (this.server === undefined) await this.listen(this.port);
  }

  /** Stops the proxy and drops every connection. */
  async dispose(): Promise<void> {
    this.dropAll();
    await this.close();
  }

  private listen(port: number): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        (this as { port: number }).port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    return new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  }

  private accept(client: Socket): void {
    this.track(client);
    if (this.current !== 'up') return; // blackhole: hold the connection, answer nothing
    const upstream = connect(this.targetPort, this.targetHost);
    this.track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
