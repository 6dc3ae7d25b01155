/** One problem with one field: `field` is the dotted path users see (`networking.inbound[0].port`). */
export interface Cause {
  readonly field: string;
  readonly message: string;
}

/**
 * An error that has a place in the API's answer. Every package throws subclasses of it, so the REST
 * layer maps them to `{ title, details, causes }` and a status without knowing where they came from.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly details: string,
    readonly causes: readonly Cause[] = [],
    options?: ErrorOptions,
  ) {
    super(details, options);
    this.name = new.target.name;
  }

  toBody() {
    return { title: this.title, details: this.details, causes: this.causes };
  }
}

export class ValidationError extends ApiError {
  constructor(details: string, causes: readonly Cause[]) {
    super(400, 'Invalid resource', details, causes);
  }
}

export class BadRequestError extends ApiError {
  constructor(title: string, details: string, causes: readonly Cause[] = []) {
    super(400, title, details, causes);
  }
}

export class NotFoundError extends ApiError {
  constructor(details: string) {
    super(404, 'Not found', details);
  }
}

export class AlreadyExistsError extends ApiError {
  constructor(details: string) {
    super(409, 'Already exists', details);
  }
}

export class VersionConflictError extends ApiError {
  constructor(details: string) {
    super(409, 'Version conflict', details);
  }
}

export class MeshNotFoundError extends ApiError {
  constructor(mesh: string) {
    super(400, 'Invalid resource', `mesh "${mesh}" does not exist`, [{ field: 'mesh', message: `mesh "${mesh}" does not exist: create it first` }]);
  }
}

export class StoreUnavailableError extends ApiError {
  constructor(details: string, options?: ErrorOptions) {
    super(503, 'Store unavailable', details, [], options);
  }
}

/** Renders a zod-style path (`['networking', 'inbound', 0, 'port']`) as `networking.inbound[0].port`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}
