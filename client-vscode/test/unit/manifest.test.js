'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const pkg = require('../../package.json');

test('palette commands use their own ids and the agreed titles', () => {
  const byId = Object.fromEntries(pkg.contributes.commands.map((c) => [c.command, `${c.category}: ${c.title}`]));
  assert.deepEqual(byId, {
    'torchlint.runOverfitCheckCurrentFile': 'torchlint: Run Overfit Check',
    'torchlint.cancelOverfitCheckCommand': 'torchlint: Cancel Overfit Check',
    'torchlint.restartServer': 'torchlint: Restart Server',
    'torchlint.showOutput': 'torchlint: Show Output',
  });
  // vscode-languageclient registers the server's own command ids; ours must not clash.
  assert.ok(!byId['torchlint.runOverfitCheck'] && !byId['torchlint.cancelOverfitCheck']);
});

test('every command registered in the source is contributed', () => {
  const src = fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'extension.ts'), 'utf8');
  const registered = [...src.matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]).sort();
  assert.deepEqual(registered, pkg.contributes.commands.map((c) => c.command).sort());
});

test('settings are contributed with the agreed keys and types', () => {
  const p = pkg.contributes.configuration.properties;
  assert.equal(p['torchlint.select'].type, 'array');
  assert.equal(p['torchlint.ignore'].type, 'array');
  assert.equal(p['torchlint.severity'].type, 'object');
  assert.deepEqual(p['torchlint.severity'].additionalProperties.enum, ['error', 'warning', 'information', 'hint']);
  // a list like ruff.interpreter
  assert.equal(p['torchlint.interpreter'].type, 'array');
  assert.equal(p['torchlint.interpreter'].items.type, 'string');
  assert.equal(p['torchlint.overfit.steps'].type, 'number');
  assert.equal(p['torchlint.overfit.timeout'].type, 'number');
  const { DEFAULTS } = require('../../out/settings.js');
  assert.equal(p['torchlint.overfit.steps'].default, DEFAULTS.overfit.steps);
  assert.equal(p['torchlint.overfit.timeout'].default, DEFAULTS.overfit.timeout);
});

test('source.fixAll.torchlint is declared for editor.codeActionsOnSave', () => {
  const kinds = pkg.contributes.codeActions.flatMap((c) => [].concat(c.actions).map((a) => a.kind));
  assert.ok(kinds.includes('source.fixAll.torchlint'));
});

test('the bundle entry point and engine match what vsce packages', () => {
  assert.equal(pkg.main, './dist/extension.js');
  assert.match(pkg.engines.vscode, /^\^1\.\d+/);
  assert.ok(pkg.dependencies['vscode-languageclient']);
});

test('the extension has an icon, packaged with the media', () => {
  const icon = path.join(__dirname, '..', '..', pkg.icon);
  const head = fs.readFileSync(icon).subarray(0, 24);
  assert.equal(head.subarray(1, 4).toString(), 'PNG');
  assert.ok(head.readUInt32BE(16) >= 128 && head.readUInt32BE(20) >= 128, 'the Marketplace wants at least 128x128');
  assert.match(pkg.icon, /^media\//);
});

test('the description names only rule families that exist', () => {
  const rules = fs.readdirSync(path.join(__dirname, '..', '..', '..', 'server', 'torchlint', 'rules')).join(' ');
  assert.doesNotMatch(pkg.description, /detach|accumulat/, 'not rules (yet)');
  for (const [word, module] of [['zero_grad', 'zero_grad'], ['eval', 'eval'], ['unregistered', 'unregistered'], ['shuffled', 'shuffled']]) {
    if (pkg.description.includes(word)) assert.match(rules, new RegExp(module));
  }
});
