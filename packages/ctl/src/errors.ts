import type { Cause } from '@meshfed/shared/errors';

/** A mistake in how the CLI was called: shown with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The control plane answered 4xx/5xx. `subject` names what was asked for, for the headline. */
export class ApiResponseError extends Error {
  override readonly name = 'ApiResponseError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly details: string,
    readonly causes: readonly Cause[],
    readonly subject?: string,
  ) {
    super(details || title);
  }
}

/** No connection to the control plane at all. `reason` is short: `connect ECONNREFUSED`. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly cpUrl: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`cannot reach the control plane at ${cpUrl} (${reason})`, options);
  }
}

/** The control plane took too long; the request may or may not have been applied. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(
    readonly cpUrl: string,
    readonly request: string,
    readonly timeoutMs: number,
  ) {
    super(`the control plane at ${cpUrl} did not answer ${request} within ${Math.round(timeoutMs / 1000)}s`);
  }
}

/** TLS (or the lack of it) stands between the CLI and the control plane; the message says what to do. */
export class TlsError extends Error {
  override readonly name = 'TlsError';
}

/** Something answered, but not like a meshfed control plane (HTML, garbage JSON). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** A problem with what the user gave us: a file that cannot be read, a document without a type. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

export interface YamlProblem {
  /** The yaml library's message, which carries the line, column and an excerpt. */
  readonly message: string;
  readonly line?: number;
  readonly col?: number;
}

/** The input is not valid YAML; nothing was applied. */
export class YamlSyntaxError extends Error {
  override readonly name = 'YamlSyntaxError';
  constructor(
    readonly source: string,
    readonly problems: readonly YamlProblem[],
  ) {
    super(`${source} is not valid YAML`);
  }
}

export interface RenderedError {
  /** Lines for stderr, without newlines. The first starts with `Error: `. */
  readonly lines: readonly string[];
  readonly exitCode: number;
}

function lowerFirst(s: string): string {
  return s.length > 1 && s[1] !== s[1]?.toUpperCase() ? s[0]!.toLowerCase() + s.slice(1) : s;
}

function causeLine(c: Cause): string {
  return c.field ? `  ${c.field}: ${c.message}` : `  ${c.message}`;
}

/** `Dataplane "dp-1" in mesh "default" is invalid (400)` and one indented line per cause. */
export function renderApiError(e: ApiResponseError): string[] {
  const invalid = e.status === 400 && e.causes.length > 0;
  let head: string;
  if (e.subject && invalid) head = `${e.subject} is invalid`;
  else if (e.subject && e.status === 404) head = `${e.subject} not found`;
  else if (e.subject) head = `${e.subject}: ${lowerFirst(e.title)}`;
  else head = e.title;
  const lines = [`${head} (${e.status})`];
  const showDetails = !invalid && e.details !== '' && e.details !== e.title && !(e.subject && e.status === 404);
  if (showDetails) lines.push(...e.details.split('\n').map((l) => `  ${l}`));
  lines.push(...e.causes.map(causeLine));
  return lines;
}

function renderYamlError(e: YamlSyntaxError): string[] {
  const lines = [`${e.source} is not valid YAML; nothing was applied`];
  for (const p of e.problems) lines.push(...p.message.trimEnd().split('\n').map((l) => (l === '' ? '' : `  ${l}`)));
  return lines;
}

/**
 * Turns any error into what a person reads on stderr. `where` prefixes the headline
 * (`bad.yaml document 2 (line 9)`), for errors about one part of the input.
 */
export function renderError(err: unknown, where?: string): RenderedError {
  let lines: string[];
  let exitCode = 1;
  if (err instanceof ApiResponseError) lines = renderApiError(err);
  else if (err instanceof UnreachableError) lines = [`${err.message}: is it running? Use --cp to point elsewhere.`];
  else if (err instanceof YamlSyntaxError) lines = renderYamlError(err);
  else if (err instanceof UsageError) {
    lines = [err.message];
    exitCode = 2;
  } else if (err instanceof Error) lines = [err.message || err.name];
  else lines = [String(err)];
  const [first = '', ...rest] = lines;
  return { lines: [`Error: ${where ? `${where}: ` : ''}${first}`, ...rest], exitCode };
}
