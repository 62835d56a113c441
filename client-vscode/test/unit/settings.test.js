'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('../../out/settings.js');

function reader(values, explicit = Object.keys(values)) {
  return {
    get: (k) => values[k],
    inspect: (k) => (explicit.includes(k) ? { key: k, globalValue: values[k] } : { key: k, defaultValue: values[k] }),
  };
}

test('readSettings fills defaults for an empty configuration', () => {
  assert.deepEqual(s.readSettings({ get: () => undefined }), {
    select: [],
    ignore: [],
    severity: {},
    interpreter: '',
    overfit: { steps: 100, timeout: 300 },
  });
});

test('readSettings validates and normalises values', () => {
  const got = s.readSettings({
    get: (k) =>
      ({
        select: [' TL1 ', 3, '', 'TL2'],
        ignore: 'TL203',
        severity: { TL101: 'Error', TL102: 'info', TL103: 'warn', TL104: 'loud', TL105: 5 },
        interpreter: '  /venv/bin/python ',
        'overfit.steps': 20.4,
        'overfit.timeout': -1,
      })[k],
  });
  assert.deepEqual(got.select, ['TL1', 'TL2']);
  assert.deepEqual(got.ignore, ['TL203']);
  assert.deepEqual(got.severity, { TL101: 'error', TL102: 'information', TL103: 'warning' });
  assert.equal(got.interpreter, '/venv/bin/python');
  assert.equal(got.overfit.steps, 20);
  assert.equal(got.overfit.timeout, 300, 'a non-positive timeout falls back to the default');
});

test('serverPayload sends only what the user set (pyproject.toml keeps the rest)', () => {
  const values = { select: [], ignore: ['TL203'], severity: {}, interpreter: '', 'overfit.steps': 20, 'overfit.timeout': 300 };
  const p = s.serverPayload(reader(values, ['ignore', 'overfit.steps']));
  assert.deepEqual(p, { ignore: ['TL203'], interpreter: '', overfit: { steps: 20 } });
});

test('serverPayload without inspect() sends everything', () => {
  const p = s.serverPayload({ get: (k) => ({ select: ['TL1'] })[k] });
  assert.deepEqual(p.select, ['TL1']);
  assert.deepEqual(p.overfit, { steps: 100, timeout: 300 });
});

test('isExplicit looks at every level except the default', () => {
  const cfg = { get: () => 1, inspect: () => ({ key: 'k', defaultValue: 1, workspaceFolderValue: 2 }) };
  assert.equal(s.isExplicit(cfg, 'k'), true);
  const cfg2 = { get: () => 1, inspect: () => ({ key: 'k', defaultValue: 1, defaultLanguageValue: 3 }) };
  assert.equal(s.isExplicit(cfg2, 'k'), false);
});

test('initializationOptions mirrors the configuration section and adds trust', () => {
  const payload = { select: ['TL1'], interpreter: 'py' };
  assert.deepEqual(s.initializationOptions(payload, false), { select: ['TL1'], interpreter: 'py', workspaceTrusted: false });
});

test('didChangeConfiguration params nest the section under "torchlint"', () => {
  assert.deepEqual(s.didChangeConfigurationParams({ ignore: ['TL2'] }), { settings: { torchlint: { ignore: ['TL2'] } } });
});

test('answerConfiguration answers torchlint items and keeps the others', () => {
  const read = (scope) => ({ select: [scope ?? 'none'], overfit: { steps: 7 } });
  const got = s.answerConfiguration(
    [
      { section: 'torchlint', scopeUri: 'file:///w' },
      { section: 'python' },
      { section: 'torchlint.overfit.steps' },
      { section: 'torchlint.nope.deeper' },
      {},
    ],
    read,
    ['T', { pythonPath: 'x' }, 'T2', 'T3', 'whole'],
  );
  assert.deepEqual(got, [{ select: ['file:///w'], overfit: { steps: 7 } }, { pythonPath: 'x' }, 7, null, 'whole']);
});

test('changeReaction: interpreter restarts, the rest is notified', () => {
  const affects = (changed) => (section) => changed.some((c) => c === section || c.startsWith(section + '.'));
  assert.equal(s.changeReaction(affects(['torchlint.interpreter'])), 'restart');
  assert.equal(s.changeReaction(affects(['torchlint.overfit.steps'])), 'notify');
  assert.equal(s.changeReaction(affects(['torchlint.select'])), 'notify');
  assert.equal(s.changeReaction(affects(['editor.fontSize'])), 'none');
});

test('torchlint.interpreter is a list like ruff.interpreter; its first entry is the executable (a string is read too)', () => {
  const { interpreterSetting } = require('../../out/settings.js');
  assert.equal(interpreterSetting(['/venv/bin/python', '-X', 'dev']), '/venv/bin/python');
  assert.equal(interpreterSetting(['  ', ' /venv/bin/python ']), '/venv/bin/python');
  assert.equal(interpreterSetting('/usr/bin/python3 '), '/usr/bin/python3');
  assert.equal(interpreterSetting([]), '');
  assert.equal(interpreterSetting(undefined), '');
  assert.equal(interpreterSetting([3]), '');
});
