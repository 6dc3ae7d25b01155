// `npm run bench -- <name>`: figures, not pass/fail.
import { benchApi } from './api.js';
import { benchGateway } from './gateway.js';
import { benchKds } from './kds.js';
import { benchProxyless } from './proxyless.js';
import { benchStore } from './store.js';
import { benchXds } from './xds.js';

const BENCHES: Record<string, () => Promise<void>> = { store: benchStore, kds: benchKds, xds: benchXds, api: benchApi, gateway: benchGateway, proxyless: benchProxyless };

const names = process.argv.slice(2);
if (names.length === 0 || names.some((n) => !(n in BENCHES))) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> ...`);
  process.exit(2);
}
for (const n of names) await BENCHES[n]!();
