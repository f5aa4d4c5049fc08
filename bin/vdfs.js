#!/usr/bin/env node
// Entry point: the compiled CLI (run `npm run build` first).
import '../dist/src/cli/main.js';
