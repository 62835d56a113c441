'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createMiddleware } = require('../../out/middleware.js');

function make(trusted = true) {
  const runs = [];
  const mw = createMiddleware({
    isTrusted: () => trusted,
    payload: (scope) => ({ ignore: ['TL2'], interpreter: scope ?? '' }),
    runOverfit: async (arg) => (runs.push(arg), { verdict: 'PASS' }),
  });
  return { mw, runs };
}

test('the server command torchlint.runOverfitCheck (code lens) goes through our overfit UI', async () => {
  const { mw, runs } = make();
  const passed = [];
  const next = async (command, args) => (passed.push([command, args]), 'from-server');
  const arg = { uri: 'file:///w/train.py', line: 16 };
  assert.deepEqual(await mw.executeCommand('torchlint.runOverfitCheck', [arg], next), { verdict: 'PASS' });
  assert.deepEqual(runs, [arg]);
  assert.deepEqual(passed, []);
  // Everything else goes to the server unchanged.
  assert.equal(await mw.executeCommand('torchlint.cancelOverfitCheck', [{ uri: 'u' }], next), 'from-server');
  assert.deepEqual(passed, [['torchlint.cancelOverfitCheck', [{ uri: 'u' }]]]);
});

test('workspace/configuration: torchlint answered from the settings, other sections by the default handler', async () => {
  const { mw } = make();
  const params = { items: [{ section: 'torchlint', scopeUri: 'file:///w' }, { section: 'python.analysis' }] };
  const got = await mw.workspace.configuration(params, {}, async () => [{ stale: true }, { typeCheckingMode: 'off' }]);
  assert.deepEqual(got, [{ ignore: ['TL2'], interpreter: 'file:///w' }, { typeCheckingMode: 'off' }]);
  // An error answer from the default handler does not break ours.
  const got2 = await mw.workspace.configuration({ items: [{ section: 'torchlint' }] }, {}, async () => new Error('x'));
  assert.deepEqual(got2, [{ ignore: ['TL2'], interpreter: '' }]);
});

test('code lenses: all in a trusted workspace, no overfit lens in Restricted Mode', async () => {
  const lenses = [{ command: { command: 'torchlint.runOverfitCheck', title: 'Run overfit check' } }, { command: { command: 'x', title: 'y' } }];
  const next = async () => lenses;
  assert.equal((await make(true).mw.provideCodeLenses({}, {}, next)).length, 2);
  assert.deepEqual(await make(false).mw.provideCodeLenses({}, {}, next), [lenses[1]]);
});
