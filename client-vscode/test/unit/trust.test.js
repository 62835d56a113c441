'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const t = require('../../out/trust.js');

test('the overfit check is allowed only in trusted workspaces', () => {
  assert.deepEqual(t.overfitGate({ isTrusted: true }), { allowed: true });
  const g = t.overfitGate({ isTrusted: false });
  assert.equal(g.allowed, false);
  assert.match(g.message, /Restricted Mode/);
  assert.match(g.message, /diagnostics/);
});

test('only the run command is gated (cancel is always allowed)', () => {
  assert.equal(t.isGatedCommand('torchlint.runOverfitCheck'), true);
  assert.equal(t.isGatedCommand('torchlint.cancelOverfitCheck'), false);
  assert.equal(t.isGatedCommand('torchlint.applyFix'), false);
});

test('overfit code lenses are hidden in untrusted workspaces', () => {
  const lenses = [
    { command: { command: 'torchlint.runOverfitCheck', title: 'Run overfit check' } },
    { command: { command: 'other', title: 'x' } },
    {},
  ];
  assert.equal(t.filterCodeLenses(lenses, true), lenses);
  assert.deepEqual(t.filterCodeLenses(lenses, false), [lenses[1], lenses[2]]);
  assert.equal(t.filterCodeLenses(null, false), null);
});

test('package.json declares limited support and restricts torchlint.interpreter', () => {
  const pkg = require('../../package.json');
  const u = pkg.capabilities.untrustedWorkspaces;
  assert.equal(u.supported, 'limited');
  assert.deepEqual(u.restrictedConfigurations, ['torchlint.interpreter']);
  assert.ok(u.description.length > 20);
});
