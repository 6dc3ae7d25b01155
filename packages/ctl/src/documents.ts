import { isScalar, LineCounter, parseAllDocuments } from 'yaml';
import { YamlSyntaxError } from './errors.js';

/** One YAML (or JSON) document of an input, with where it starts for messages. */
export interface SourceDocument {
  /** 1-based position among the documents of the input, empty ones counted. */
  readonly index: number;
  /** 1-based line where the document's content starts. */
  readonly line: number;
  readonly value: unknown;
}

/**
 * Splits a multi-document YAML stream (JSON is YAML too) into plain values. Empty documents (only
 * comments, a trailing `---`) are dropped. Any syntax error anywhere throws YamlSyntaxError with
 * every problem, so callers apply nothing from a broken file.
 */
export function parseDocuments(text: string, source: string): SourceDocument[] {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  const docs = [...parsed];
  // An input without documents answers an EmptyStream, which may still carry stream-level errors.
  const streamErrors = 'empty' in parsed ? parsed.errors : [];
  const problems = [...streamErrors, ...docs.flatMap((d) => d.errors)].map((e) => ({
    message: e.message,
    ...(e.linePos ? { line: e.linePos[0].line, col: e.linePos[0].col } : {}),
  }));
  if (problems.length > 0) throw new YamlSyntaxError(source, problems);

  const out: SourceDocument[] = [];
  docs.forEach((doc, i) => {
    // Nothing but comments, or the empty document after a trailing `---`.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && doc.contents.source === '')) return;
    const offset = doc.contents.range[0];
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      const pos = lineCounter.linePos(offset);
      const message = err instanceof Error ? err.message : String(err);
      throw new YamlSyntaxError(source, [{ message: `${message} in the document at line ${pos.line}`, line: pos.line, col: pos.col }]);
    }
    out.push({ index: i + 1, line: lineCounter.linePos(offset).line, value });
  });
  return out;
}
