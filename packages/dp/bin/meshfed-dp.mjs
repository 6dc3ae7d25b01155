#!/usr/bin/env node
import { runBuilt } from '@meshfed/shared/run-built';

await runBuilt('meshfed-dp', new URL('../dist/main.js', import.meta.url));
