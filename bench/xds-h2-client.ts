// A bidirectional gRPC stream for the bench's proxies, spoken directly over node:http2: HEADERS with
// the method's path, length-prefixed messages both ways (gRPC's 5-byte prefix, uncompressed), the
// status in the trailers. What it does not have that grpc-js's client has (name resolution, load
// balancing, retries, interceptors, deadlines) a bench's load generator does not use, and it cost
// grpc-js's client about 50 µs per message, on the two cores the zone CP is measured on. Envoy,
// whose place these streams take, has a C++ client on its own machine.
import http2 from 'node:http2';

export interface BidiStream {
  write(message: Buffer): void;
  end(): void;
}

export interface StreamHandlers {
  onMessage(message: Buffer): void;
  onError(error: Error): void;
}

const PREFIX = 5;

/** Splits an HTTP/2 DATA stream into gRPC messages, however the chunks cut them. */
class MessageReader {
  /** The start of a message whose end has not arrived yet. */
  #rest: Buffer | undefined;

  constructor(readonly onMessage: (m: Buffer) => void) {}

  push(chunk: Buffer): void {
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    this.#rest = undefined;
    let off = 0;
    while (buf.length - off >= PREFIX) {
      if (buf[off] !== 0) throw new Error('a compressed gRPC message: the bench asks for none');
      const len = buf.readUInt32BE(off + 1);
      if (buf.length - off - PREFIX < len) break;
      this.onMessage(buf.subarray(off + PREFIX, off + PREFIX + len));
      off += PREFIX + len;
    }
    if (off < buf.length) this.#rest = buf.subarray(off);
  }
}

export interface H2ChannelOptions {
  /** Dial over TLS trusting this CA (PEM), as a proxy dials a zone that serves xDS over TLS; plaintext when absent. */
  readonly caPem?: string;
}

export class H2GrpcChannel {
  readonly #session: http2.ClientHttp2Session;

  /** `windowBytes`: the HTTP/2 stream and connection windows this side advertises. */
  constructor(target: string, windowBytes: number, o: H2ChannelOptions = {}) {
    const settings = { initialWindowSize: windowBytes };
    this.#session = o.caPem === undefined
      ? http2.connect(`http://${target}`, { settings })
      : http2.connect(`https://${target}`, { settings, ca: o.caPem });
    this.#session.on('connect', () => this.#session.setLocalWindowSize(windowBytes));
    // Errors reach each stream; the session's own would otherwise be unhandled.
    this.#session.on('error', () => {});
  }

  /** `headers`: request metadata besides gRPC's own (e.g. `authorization` with a proxy's token). */
  open(path: string, h: StreamHandlers, headers: Readonly<Record<string, string>> = {}): BidiStream {
    const req = this.#session.request({
      ...headers, ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers',
    }, { endStream: false });
    const reader = new MessageReader(h.onMessage);
    let failed = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      h.onError(e);
    };
    req.on('response', (headers) => {
      if (headers[':status'] !== 200) fail(new Error(`HTTP status ${headers[':status']}`));
      const status = headers['grpc-status'];
      // A trailers-only response: the call ended at once.
      if (status !== undefined && status !== '0') fail(new Error(`gRPC status ${status}: ${headers['grpc-message'] ?? ''}`));
    });
    req.on('trailers', (trailers) => {
      const status = trailers['grpc-status'];
      if (status !== undefined && status !== '0') fail(new Error(`gRPC status ${status}: ${decodeURIComponent(String(trailers['grpc-message'] ?? ''))}`));
    });
    req.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        fail(err as Error);
        req.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      }
    });
    req.on('error', (err: Error) => fail(err));
    return {
      write: (message) => {
        const framed = Buffer.allocUnsafe(PREFIX + message.length);
        framed[0] = 0;
        framed.writeUInt32BE(message.length, 1);
        framed.set(message, PREFIX);
        req.write(framed);
      },
      end: () => req.end(),
    };
  }

  close(): void {
    this.#session.close();
  }
}
