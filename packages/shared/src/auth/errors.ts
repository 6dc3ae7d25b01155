/** Why a zone token was refused; KDS logs it and answers UNAUTHENTICATED. */
export type ZoneTokenFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'wrong-scope' | 'zone-mismatch' | 'revoked';

/** A zone token that does not authenticate its bearer. The message says exactly why, for logs and answers. */
export class ZoneTokenError extends Error {
  override readonly name = 'ZoneTokenError';
  constructor(
    readonly reason: ZoneTokenFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The signing key kept in the store cannot be used: nothing is overwritten, an operator must look. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** Why a dataplane token was refused; the zone's xDS server maps it to a gRPC status. */
export type DataplaneTokenFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'mesh-mismatch' | 'name-mismatch' | 'revoked';

/** A dataplane token that does not authenticate its bearer. The message says exactly why; it is sent to the proxy. */
export class DataplaneTokenError extends Error {
  override readonly name = 'DataplaneTokenError';
  constructor(
    readonly reason: DataplaneTokenFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
