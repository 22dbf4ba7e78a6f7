#!/usr/bin/env -S node --no-memory-reducer
'use strict';
require('../dist/src/cli/main.js')
  .main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
