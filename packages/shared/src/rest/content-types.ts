import type { FastifyInstance } from 'fastify';
import { parseDocument } from 'yaml';
import { BadRequestError } from '../errors/api-error.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/** PUT takes YAML as well as JSON, so a file written for `meshfed apply` can be sent with curl. */
export function installYamlParser(app: FastifyInstance): void {
  // Only JSON and YAML describe resources; plain text gets a clear 415 instead of a confusing 400.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_request, text, done) => {
    const doc = parseDocument(String(text), { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      done(new BadRequestError('Malformed body', `the body is not valid YAML${at}: ${e.message.split('\n')[0]}`), undefined);
      return;
    }
    done(null, doc.toJS());
  });
}
