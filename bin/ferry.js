#!/usr/bin/env node
import { main } from '../dist/server/cli/main.js';

await main(process.argv);
