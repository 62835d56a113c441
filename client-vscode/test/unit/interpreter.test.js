'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const i = require('../../out/interpreter.js');

function envApi(activePath, resolved, opts = {}) {
  return {
    getActiveEnvironmentPath: (resource) => {
      if (opts.seen) opts.seen.push(resource);
      return activePath ? { id: activePath, path: activePath } : undefined;
    },
    resolveEnvironment: async () => {
      if (resolved instanceof Error) throw resolved;
      return resolved ? { executable: { uri: { fsPath: resolved } } } : undefined;
    },
  };
}

test('an explicit torchlint.interpreter setting wins', async () => {
  const got = await i.resolveInterpreter({ setting: '/venv/bin/python', pythonApi: envApi('/other/python', '/other/python') });
  assert.deepEqual(got, { path: '/venv/bin/python', source: 'setting' });
});

test('the setting is expanded (${workspaceFolder}, ~)', async () => {
  const expand = (v) => i.expandPathVariables(v, { workspaceFolder: '/w', userHome: '/home/u' });
  assert.equal((await i.resolveInterpreter({ setting: '${workspaceFolder}/.venv/bin/python', pythonApi: undefined, expandVariables: expand })).path, '/w/.venv/bin/python');
  assert.equal(expand('~/py/bin/python'), '/home/u/py/bin/python');
  assert.equal(expand('/a~b'), '/a~b');
});

test('without a setting, the Python extension interpreter is used (resolved to an executable)', async () => {
  const seen = [];
  const got = await i.resolveInterpreter({ setting: '  ', pythonApi: envApi('/envs/a', '/envs/a/bin/python', { seen }), resource: 'R' });
  assert.deepEqual(got, { path: '/envs/a/bin/python', source: 'python-extension' });
  assert.deepEqual(seen, ['R']);
});

test('an unresolvable Python extension environment falls back to its path', async () => {
  const got = await i.resolveInterpreter({ setting: '', pythonApi: envApi('/envs/b/bin/python', new Error('boom')) });
  assert.deepEqual(got, { path: '/envs/b/bin/python', source: 'python-extension' });
});

test('no setting and no Python extension: python3', async () => {
  const got = await i.resolveInterpreter({ setting: undefined, pythonApi: undefined });
  assert.deepEqual(got, { path: process.platform === 'win32' ? 'python' : 'python3', source: 'default' });
  const none = await i.resolveInterpreter({ setting: '', pythonApi: envApi(undefined, undefined) });
  assert.equal(none.source, 'default');
});

test('pythonEnvironmentsApi: absent, inactive (activated), broken', async () => {
  assert.equal(await i.pythonEnvironmentsApi({ getExtension: () => undefined }), undefined);
  let activated = 0;
  const envs = envApi('/p', '/p');
  const ext = { isActive: false, exports: undefined, activate: async () => (activated++, { environments: envs }) };
  assert.equal(await i.pythonEnvironmentsApi({ getExtension: (id) => (id === 'ms-python.python' ? ext : undefined) }), envs);
  assert.equal(activated, 1);
  const logs = [];
  const broken = { isActive: false, exports: undefined, activate: async () => { throw new Error('nope'); } };
  assert.equal(await i.pythonEnvironmentsApi({ getExtension: () => broken }, (m) => logs.push(m)), undefined);
  assert.match(logs[0], /nope/);
  const old = { isActive: true, exports: { settings: {} }, activate: async () => ({}) };
  assert.equal(await i.pythonEnvironmentsApi({ getExtension: () => old }), undefined);
});

test('checkTorchlintImportable classifies the outcomes', async () => {
  const ok = await i.checkTorchlintImportable('py', async (file, args) => {
    assert.equal(file, 'py');
    assert.deepEqual(args.slice(0, 1), ['-c']);
    assert.match(args[1], /import torchlint/);
    return { code: 0, stdout: '0.1.0', stderr: '' };
  });
  assert.deepEqual(ok, { ok: true, version: '0.1.0' });
  const missing = await i.checkTorchlintImportable('py', async () => ({ code: 1, stdout: '', stderr: "ModuleNotFoundError: No module named 'torchlint'" }));
  assert.equal(missing.ok, false);
  assert.equal(missing.reason, 'not-installed');
  const enoent = Object.assign(new Error('spawn nope ENOENT'), { code: 'ENOENT' });
  const noPy = await i.checkTorchlintImportable('nope', async () => ({ code: null, stdout: '', stderr: '', error: enoent }));
  assert.equal(noPy.reason, 'no-interpreter');
  const broken = await i.checkTorchlintImportable('py', async () => ({ code: 1, stdout: '', stderr: 'Traceback\nSyntaxError: bad' }));
  assert.equal(broken.reason, 'failed');
});

test('importCheckMessage names the interpreter and where it came from', () => {
  const m = i.importCheckMessage({ path: '/v/bin/python', source: 'setting' }, { ok: false, reason: 'not-installed', detail: '' });
  assert.match(m, /not installed/);
  assert.match(m, /torchlint\.interpreter \(\/v\/bin\/python\)/);
  const m2 = i.importCheckMessage({ path: 'python3', source: 'default' }, { ok: false, reason: 'no-interpreter', detail: '' });
  assert.match(m2, /cannot run python3/);
  const m3 = i.importCheckMessage({ path: '/e', source: 'python-extension' }, { ok: false, reason: 'failed', detail: 'a\nImportError: x' });
  assert.match(m3, /Python extension's interpreter/);
  assert.match(m3, /ImportError: x/);
  assert.equal(i.importCheckMessage({ path: 'p', source: 'default' }, { ok: true, version: '1' }), '');
});

test('the install button runs pip in that interpreter', () => {
  assert.deepEqual(i.pipInstallArgs(), ['-m', 'pip', 'install', '--upgrade', 'torchlint']);
});
