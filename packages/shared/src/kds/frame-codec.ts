import type protobuf from 'protobufjs';

/** Decoding never throws: a garbage frame is a value the stream can count and survive. */
export type Decoded<M> = { ok: true; value: M } | { ok: false; error: string };

/**
 * Encoders and decoders of one protobuf message type, shared by KDS and ADS. The type is looked up on
 * first use, so a codec over a lazily loaded API (Envoy's) costs nothing until a frame arrives.
 */
export function frameDecoder<M>(lookup: () => protobuf.Type, options: protobuf.IConversionOptions) {
  let type: protobuf.Type | undefined;
  return (frame: Uint8Array): Decoded<M> => {
    try {
      type ??= lookup();
      return { ok: true, value: type.toObject(type.decode(frame), options) as M };
    } catch (err) {
      return { ok: false, error: `cannot decode ${type ? type.fullName.replace(/^\./, '') : 'message'}: ${(err as Error).message}` };
    }
  };
}

export function frameEncoder<M>(lookup: () => protobuf.Type) {
  let type: protobuf.Type | undefined;
  return (value: M): Buffer => {
    type ??= lookup();
    const encoded = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  };
}
