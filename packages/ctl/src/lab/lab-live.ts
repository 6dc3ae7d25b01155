/** How often the live block is redrawn in a terminal, and printed again when output goes to a file or pipe. */
export const LIVE_REDRAW_MS = 1_000;
export const LIVE_REPRINT_MS = 5_000;

export interface LiveOutput {
  /** Writes one piece of output; a newline is added after it. */
  readonly out: (s: string) => void;
  /** A terminal: the block is redrawn in place. Otherwise each block is printed after the last. */
  readonly tty: boolean;
  /** The terminal's width, to count the rows a long line wraps onto. */
  readonly columns?: () => number | undefined;
}

/** The terminal rows `text` takes: each line at least one, and a wrapped line one more per width. */
export function terminalRows(text: string, columns: number | undefined): number {
  return text.split('\n').reduce((n, line) => n + (columns && columns > 0 ? Math.max(1, Math.ceil(line.length / columns)) : 1), 0);
}

/**
 * Shows `render()` now and then every LIVE_REDRAW_MS in place (a terminal) or every LIVE_REPRINT_MS
 * below the last (a log or a pipe, which cannot be rewritten: start the text with an empty line to
 * set the blocks apart); answers how to stop it. In a terminal nothing else may be written
 * meanwhile, or the redraw would overwrite it.
 */
export function showLive(render: () => string, o: LiveOutput): () => void {
  let rows = 0;
  const show = () => {
    const text = render();
    if (!o.tty) return o.out(text);
    // Up to the first row of the last block (CSI n F), then clear to the end of the screen (CSI J).
    o.out(`${rows > 0 ? `\x1b[${rows}F\x1b[J` : ''}${text}`);
    rows = terminalRows(text, o.columns?.());
  };
  show();
  const timer = setInterval(show, o.tty ? LIVE_REDRAW_MS : LIVE_REPRINT_MS);
  return () => clearInterval(timer);
}
