/**
 * A plain object does not fit the Envoy message it is packed as: a generator bug, never user input.
 * `typeName` is the message packed, `field` the dotted path of the offending field
 * (`filter_chains[0].filters[0].name`), empty for the message itself.
 */
export class EnvoyResourceError extends Error {
  constructor(
    readonly typeName: string,
    readonly field: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`${typeName}${field === '' ? '' : ` field ${field}`}: ${problem}`, options);
    this.name = new.target.name;
  }
}

/** A name cannot be built from these parts without losing its guarantees (uniqueness, round-trip). */
export class EnvoyNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
