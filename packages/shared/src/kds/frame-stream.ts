/**
 * The part of a grpc-js duplex call a KDS stream needs, the same on server and client, so the stream
 * loops do not care which end dialled. Frames are raw protobuf bytes.
 */
export interface FrameStream {
  write(frame: Buffer): boolean;
  on(event: 'data', listener: (frame: Buffer) => void): unknown;
  on(event: 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  end(): void;
}

/** Closes a call from our side with a reason: the client cancels, the server ends with a status. */
export type CloseStream = (reason: string) => void;
