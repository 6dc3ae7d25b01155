import { readFileSync } from 'node:fs';

// One source for the version: the shared package's manifest, one level above both src/ and dist/.
export const MESHFED_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
