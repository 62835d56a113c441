'use strict';
// Settings per workspace folder (issue 13): which change restarts the server and which is only
// notified, the section each folder's scope gets, which scope chooses the server's interpreter,
// and the middleware answering a workspace/configuration request with one item per folder.
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('../../out/settings.js');
const { serverInterpreterScope } = require('../../out/interpreter.js');
const { createMiddleware } = require('../../out/middleware.js');

/**
 * ConfigurationChangeEvent.affectsConfiguration as VS Code answers it: without a scope, a change
 * of the section anywhere; with a folder, a change of the value that folder sees.
 */
function affects(changes) {
  return (section, scope) =>
    changes.some(
      (c) => (c.key === section || c.key.startsWith(`${section}.`)) && (scope === undefined || c.folders.includes(scope)),
    );
}

test('a setting changed in one folder only is notified (the server asks every folder again)', () => {
  const change = affects([{ key: 'torchlint.ignore', folders: ['b'] }]);
  assert.equal(s.folderChangeReaction(change, ['a', 'b'], 'a'), 'notify');
  // also when VS Code reports it for that folder only (a folder-scoped check is what finds it)
  const folderOnly = (section, scope) => scope === 'b' && section === 'torchlint';
  assert.equal(s.folderChangeReaction(folderOnly, ['a', 'b'], 'a'), 'notify');
});

test("another folder's interpreter is notified; the server's own interpreter restarts it", () => {
  const inB = affects([{ key: 'torchlint.interpreter', folders: ['b'] }]);
  assert.equal(s.folderChangeReaction(inB, ['a', 'b'], 'a'), 'notify');
  assert.equal(s.folderChangeReaction(inB, ['a', 'b'], 'b'), 'restart');
  // the server runs the workspace-level interpreter: any change of it may be the one
  assert.equal(s.folderChangeReaction(inB, ['a', 'b'], undefined), 'restart');
});

test('changes outside torchlint need nothing', () => {
  const other = affects([{ key: 'editor.fontSize', folders: ['a', 'b'] }]);
  assert.equal(s.folderChangeReaction(other, ['a', 'b'], 'a'), 'none');
  assert.equal(s.folderChangeReaction(affects([]), [], undefined), 'none');
});

test("folderPayload expands ${workspaceFolder} with the folder's own path", () => {
  const payload = { ignore: ['TL101'], interpreter: '${workspaceFolder}/.venv/bin/python' };
  assert.deepEqual(s.folderPayload(payload, { path: '/w/a' }), { ignore: ['TL101'], interpreter: '/w/a/.venv/bin/python' });
  assert.deepEqual(s.folderPayload(payload, { path: '/w/b' }).interpreter, '/w/b/.venv/bin/python');
  assert.equal(s.folderPayload({ interpreter: '~/py/bin/python' }, { path: '/w/a', userHome: '/home/u' }).interpreter, '/home/u/py/bin/python');
  assert.deepEqual(payload.interpreter, '${workspaceFolder}/.venv/bin/python', 'the input is left alone');
});

test("folderPayload: without a setting, the folder's Python extension interpreter when the server runs another", () => {
  const unset = { select: ['TL1'], interpreter: '' };
  assert.deepEqual(s.folderPayload(unset, { path: '/w/b', pythonExtension: '/w/b/.venv/bin/python', serverInterpreter: '/usr/bin/python3' }), {
    select: ['TL1'],
    interpreter: '/w/b/.venv/bin/python',
  });
  // the server's own interpreter: nothing to say (the server keeps its in-process environment)
  assert.equal(s.folderPayload(unset, { path: '/w/a', pythonExtension: '/usr/bin/python3', serverInterpreter: '/usr/bin/python3' }).interpreter, '');
  assert.equal(s.folderPayload(unset, { path: '/w/a' }).interpreter, '');
  // an explicit setting wins over the Python extension
  assert.equal(s.folderPayload({ interpreter: '/opt/py' }, { pythonExtension: '/w/b/.venv/bin/python' }).interpreter, '/opt/py');
});

test('the server interpreter: the workspace-level setting, else the first folder that sets one, else the first folder', () => {
  assert.deepEqual(
    serverInterpreterScope([
      { scope: undefined, setting: '/ws/python' },
      { scope: 'a', setting: '/ws/python' },
      { scope: 'b', setting: '/b/python' },
    ]),
    { scope: undefined, setting: '/ws/python' },
  );
  assert.deepEqual(
    serverInterpreterScope([
      { scope: undefined, setting: '' },
      { scope: 'a', setting: ' ' },
      { scope: 'b', setting: '/b/python' },
    ]),
    { scope: 'b', setting: '/b/python' },
  );
  assert.deepEqual(
    serverInterpreterScope([
      { scope: undefined, setting: '' },
      { scope: 'a', setting: '' },
      { scope: 'b', setting: '' },
    ]),
    { scope: 'a', setting: '' },
  );
  assert.deepEqual(serverInterpreterScope([{ scope: undefined, setting: '' }]), { scope: undefined, setting: '' });
});

test('workspace/configuration with one item per folder: each folder gets its own section', async () => {
  const asked = [];
  const perFolder = {
    'file:///w/a': { ignore: ['TL101'], interpreter: '' },
    'file:///w/b': { severity: { TL101: 'hint' }, interpreter: '/w/b/.venv/bin/python' },
  };
  const mw = createMiddleware({
    isTrusted: () => true,
    // the extension's answer is async (the Python extension's interpreter of the folder)
    payload: async (scope) => (asked.push(scope), perFolder[scope] ?? { interpreter: '' }),
    runOverfit: async () => null,
  });
  const params = {
    items: [
      { section: 'torchlint', scopeUri: 'file:///w/a' },
      { section: 'torchlint', scopeUri: 'file:///w/b' },
      { section: 'torchlint.overfit', scopeUri: 'file:///w/b' },
      { section: 'python.analysis', scopeUri: 'file:///w/a' },
      { section: 'torchlint' },
    ],
  };
  const got = await mw.workspace.configuration(params, {}, async () => [null, null, null, { typeCheckingMode: 'off' }, null]);
  assert.deepEqual(got, [
    perFolder['file:///w/a'],
    perFolder['file:///w/b'],
    null,
    { typeCheckingMode: 'off' },
    { interpreter: '' },
  ]);
  assert.deepEqual(asked.sort(), ['file:///w/a', 'file:///w/b', undefined].sort(), 'each scope read once');
});

test('every setting the server receives can be set per workspace folder (scope resource)', () => {
  const props = require('../../package.json').contributes.configuration.properties;
  for (const key of ['select', 'ignore', 'severity', 'interpreter', 'overfit.steps', 'overfit.timeout']) {
    assert.equal(props[`torchlint.${key}`].scope, 'resource', `torchlint.${key}`);
  }
});
