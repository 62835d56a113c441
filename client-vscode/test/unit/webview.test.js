'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const w = require('../../out/webviewMessages.js');

test('parseWebviewMessage accepts only well-formed messages', () => {
  assert.deepEqual(w.parseWebviewMessage({ type: 'open', filename: 'a.py', row: 3.7 }), { type: 'open', filename: 'a.py', row: 3 });
  assert.deepEqual(w.parseWebviewMessage({ type: 'open', filename: 'a.py', row: 'x' }), { type: 'open', filename: 'a.py', row: null });
  assert.deepEqual(w.parseWebviewMessage({ type: 'open', filename: 'a.py', row: -4 }), { type: 'open', filename: 'a.py', row: 1 });
  assert.equal(w.parseWebviewMessage({ type: 'open', filename: '' }), undefined);
  assert.equal(w.parseWebviewMessage({ type: 'exec', cmd: 'rm' }), undefined);
  assert.equal(w.parseWebviewMessage('open'), undefined);
  assert.equal(w.parseWebviewMessage(null), undefined);
  assert.deepEqual(w.parseWebviewMessage({ type: 'rerun' }), { type: 'rerun' });
});

test('resolveFindingPath: absolute, file URI, relative to the script, then the workspace', () => {
  const none = () => false;
  assert.equal(w.resolveFindingPath('/abs/x.py', '/w/train.py', ['/w'], none), '/abs/x.py');
  assert.equal(w.resolveFindingPath('file:///a%20b/x.py', undefined, [], none), '/a b/x.py');
  assert.equal(w.resolveFindingPath('model.py', '/w/sub/train.py', ['/w'], none), '/w/sub/model.py');
  assert.equal(w.resolveFindingPath('pkg/model.py', '/w/sub/train.py', ['/w'], (p) => p === '/w/pkg/model.py'), '/w/pkg/model.py');
  assert.equal(w.resolveFindingPath('m.py', undefined, [], none), 'm.py');
});

test('handleWebviewMessage opens file:row at the 0-based line', async () => {
  const opened = [];
  const deps = {
    reportFsPath: '/w/train.py',
    workspaceFolders: ['/w'],
    exists: () => true,
    openLocation: async (f, l) => opened.push([f, l]),
    rerun: async () => opened.push(['rerun']),
  };
  assert.equal(await w.handleWebviewMessage({ type: 'open', filename: 'train.py', row: 21 }, deps), 'open /w/train.py:20');
  assert.equal(await w.handleWebviewMessage({ type: 'open', filename: '/x/y.py', row: null }, deps), 'open /x/y.py:0');
  assert.equal(await w.handleWebviewMessage({ type: 'bogus' }, deps), 'ignored');
  assert.equal(await w.handleWebviewMessage({ type: 'rerun' }, deps), 'rerun');
  assert.equal(await w.handleWebviewMessage({ type: 'ready' }, deps), 'ready');
  assert.deepEqual(opened, [['/w/train.py', 20], ['/x/y.py', 0], ['rerun']]);
});
