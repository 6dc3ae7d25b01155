#!/usr/bin/env node
import { runBuilt } from '@meshfed/shared/run-built';

await runBuilt('meshfed-zone', new URL('../dist/main.js', import.meta.url));
