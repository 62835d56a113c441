// Loaded with `node --require`: makes `require('vscode')` return a small in-memory stub, so the
// modules that touch the VS Code API can be unit-tested in plain Node.
'use strict';
const Module = require('module');
const path = require('path');

const STUB = path.join(__dirname, 'vscode-api.js');
const origResolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'vscode') return STUB;
  return origResolve.call(this, request, ...rest);
};
