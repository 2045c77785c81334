#!/usr/bin/env node
import { main } from '../dist/agent/cli/main.js';

await main(process.argv);
