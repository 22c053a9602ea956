#!/usr/bin/env node
// Entry point for `npx ratchet` and the package's `bin`: runs the bundled command line.
const { run } = require('../dist/cli.js');
run(process.argv.slice(2));
