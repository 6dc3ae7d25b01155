import type { Io } from './io.js';

/** One `meshfed <name>` verb. The CLI's dispatch table maps names to these. */
export interface Command {
  /** One line for the top-level usage. */
  readonly summary: string;
  /** `meshfed get TYPE [NAME] [flags]`: shown under usage mistakes. */
  readonly synopsis: string;
  /** The full text of `meshfed <name> --help`. */
  readonly help: string;
  /**
   * Runs with the arguments after the command name (global flags included) and answers the exit
   * code. Throws UsageError for usage mistakes; other errors are rendered by the CLI.
   */
  run(args: readonly string[], io: Io): Promise<number>;
}
