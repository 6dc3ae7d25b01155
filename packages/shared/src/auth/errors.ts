/** Why a zone token was refused; KDS logs it and answers UNAUTHENTICATED. */
export type ZoneTokenFailure = 'missing' | 'malformed' | 'bad-signature' | 'expired' | 'wrong-scope' | 'zone-mismatch';

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
