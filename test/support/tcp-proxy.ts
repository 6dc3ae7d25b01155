import { createServer, type Server, type Socket, connect } from 'node:net';

/**
 * A loopback TCP proxy a test can cut and restore, to make a real server unreachable mid-run
 * without touching the server itself.
 */
export class TcpProxy {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {}

  async start(port = 0): Promise<number> {
    this.#server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    // A port that cannot be had (restore() after someone took it) is an error, not a hang.
    await new Promise<void>((resolve, reject) => this.#server!.once('error', reject).listen(port, '127.0.0.1', resolve));
    const addr = this.#server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    return this.port;
  }

  /** Drops every connection and stops accepting new ones. */
  async cut(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#server = undefined;
  }

  async restore(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}
