'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const vscode = require('vscode'); // the stub, via vscode-stub.js
const { normalizeReport, formatBytes, formatSeconds, summary } = require('../../out/report.js');
const { renderPanelHtml, escapeHtml, jsonForScript, verdictClass } = require('../../out/panelHtml.js');
const { ResultPanel } = require('../../out/panel.js');
const chart = require('../../media/panel.js');

const REPORT = {
  verdict: 'PASS',
  device: 'cpu',
  steps: 3,
  losses: [2.0, 1.0, 0.5],
  seconds_per_step: 0.012,
  peak_memory_bytes: 3 * 1024 * 1024,
  findings: [{ code: 'TL101', message: 'grads <b>never</b> zeroed', filename: 'train.py', row: 21 }],
  error: null,
  uri: 'file:///w/train.py',
};

test('normalizeReport copes with missing and malformed fields', () => {
  const r = normalizeReport({ losses: [1, '2', 'x'], findings: [null, { code: 'TL1', row: 'a' }], error: 'Boom' }, 'file:///a.py');
  assert.equal(r.verdict, 'ERROR');
  assert.equal(r.losses.length, 3);
  assert.ok(Number.isNaN(r.losses[2]));
  assert.deepEqual(r.findings, [{ code: 'TL1', message: '', filename: '', row: null, severity: '' }]);
  assert.equal(r.uri, 'file:///a.py');
  assert.equal(r.steps, 3);
  assert.equal(normalizeReport(undefined).verdict, 'UNKNOWN');
  assert.equal(normalizeReport({ verdict: 'PASS', uri: 'file:///b.py' }, 'file:///a.py').uri, 'file:///b.py');
  // The server's notification names the script by path only.
  assert.equal(normalizeReport({ verdict: 'PASS', script: '/tmp/my dir/train.py' }).uri, 'file:///tmp/my%20dir/train.py');
  assert.equal(normalizeReport({ verdict: 'PASS', script: 'rel.py' }).uri, undefined);
});

test('formatting helpers', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
  assert.equal(formatBytes(null), 'n/a');
  assert.equal(formatSeconds(0.012), '12.0 ms');
  assert.equal(formatSeconds(2), '2.00 s');
  assert.equal(summary(normalizeReport(REPORT)), 'PASS, loss 2 → 1');
  assert.equal(summary(normalizeReport({ ...REPORT, initial_loss: 2.5, final_loss: 0.01 })), 'PASS, loss 2.5 → 0.01', 'the server\'s numbers win');
  // as the CLI and TLR01 print them (Python's {:.4g})
  const { formatLoss } = require('../../out/report.js');
  assert.deepEqual([0.62971, 0.618, 4.1e-7, 2.302585, 1234567, 1e21].map(formatLoss), ['0.6297', '0.618', '4.1e-07', '2.303', '1.235e+06', '1e+21']);
  assert.equal(summary(normalizeReport({ ...REPORT, verdict: 'ERROR', cancelled: true, error: 'cancelled after 3 steps' })), 'cancelled after 3 steps');
  assert.equal(verdictClass('PASS'), 'pass');
  assert.equal(verdictClass('NO_DECREASE'), 'fail');
  assert.equal(verdictClass('ERROR'), 'error');
});

test('the panel HTML escapes server text, pins the CSP to a nonce and embeds safe JSON', () => {
  const evil = normalizeReport({ ...REPORT, verdict: '<img src=x onerror=alert(1)>', error: '</script><script>alert(1)</script>' });
  const html = renderPanelHtml(evil, { cspSource: 'vscode-webview://x', nonce: 'N0NCE', scriptUri: 'vscode-webview://x/panel.js', trusted: true });
  assert.ok(!html.includes('<img src=x'));
  assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(!/<\/script><script>alert/.test(html));
  assert.match(html, /script-src 'nonce-N0NCE'/);
  assert.match(html, /default-src 'none'/);
  assert.ok(!/https?:\/\//.test(html.replace('http://www.w3.org', '')), 'no remote resources (no CDN)');
  assert.equal(jsonForScript({ a: '</script>' }), '{"a":"\\u003c/script\\u003e"}');
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('the panel HTML lists findings as links with file and row', () => {
  const html = renderPanelHtml(normalizeReport(REPORT), { cspSource: 'c', nonce: 'n', scriptUri: 's', trusted: false });
  assert.match(html, /<a href="#" class="finding" data-filename="train.py" data-row="21">/);
  assert.match(html, /grads &lt;b&gt;never&lt;\/b&gt; zeroed/);
  // the verdict's numbers: first loss and the median of the last steps (here of 2, 1, 0.5)
  assert.match(html, /2 → 1 <span class="hint">\(initial → final: median of the last 5 steps\)/);
  assert.ok(!html.includes('id="rerun"'), 'no re-run link in Restricted Mode');
});

test('the chart script draws one path point per finite loss and marks non-finite ones', () => {
  const svg = chart.buildChartSvg([2, 1, NaN, 0.5, Infinity, 0.25]);
  assert.match(svg, /^<svg /);
  const d = /<path class="curve" d="([^"]+)"/.exec(svg)[1];
  assert.equal(d.split(' ').length, 4);
  assert.equal((svg.match(/class="nonfinite"/g) || []).length, 2);
  assert.match(buildSafe([1e4, 1e-1]), /loss \(log\)/);
  assert.doesNotMatch(buildSafe([3, 2, 1]), /\(log\)/);
  assert.match(chart.buildChartSvg([]), /no finite loss values/);
  assert.match(chart.buildChartSvg([1, 1, 1]), /class="curve"/, 'flat curves do not divide by zero');
  function buildSafe(l) {
    const s = chart.buildChartSvg(l);
    assert.doesNotMatch(s, /NaN/);
    return s;
  }
});

test('ResultPanel: one panel, reused; findings clicks open file:line', async () => {
  vscode.__reset();
  vscode.workspace.workspaceFolders = [{ uri: vscode.Uri.file('/w') }];
  const logs = [];
  const reruns = [];
  const panel = new ResultPanel(vscode, vscode.Uri.file('/ext'), (m) => logs.push(m), async (u) => reruns.push(u));
  panel.show(normalizeReport(REPORT));
  panel.show(normalizeReport({ ...REPORT, verdict: 'NO_DECREASE' }));
  assert.equal(vscode.__state.panels.length, 1);
  const p = vscode.__state.panels[0];
  assert.equal(p.options.enableScripts, true);
  assert.deepEqual(p.options.localResourceRoots.map((u) => u.fsPath), ['/ext/media']);
  assert.match(p.webview.html, /NO_DECREASE/);
  assert.match(p.webview.html, /src="vscode-webview:\/\/stub\/ext\/media\/panel.js"/);
  assert.equal(p.title, 'torchlint: Overfit NO_DECREASE (train.py)');

  await p.__message({ type: 'open', filename: 'train.py', row: 21 });
  assert.deepEqual(vscode.__calls.find((c) => c[0] === 'showTextDocument'), ['showTextDocument', '/w/train.py', 20, vscode.ViewColumn.One]);
  await p.__message({ type: 'rerun' });
  assert.deepEqual(reruns, ['file:///w/train.py']);
  await p.__message({ type: 'evil', code: 'x' });
  assert.ok(logs.includes('panel: ignored'));

  p.dispose();
  panel.show(normalizeReport(REPORT));
  assert.equal(vscode.__state.panels.length, 2, 'a closed panel is created anew');
});

test('the language status item shows starting, ready, error and Restricted Mode', () => {
  vscode.__reset();
  const { StatusBar, statusView } = require('../../out/status.js');
  let trusted = true;
  const bar = new StatusBar(vscode, () => trusted);
  const item = vscode.__state.statusItems[0];
  assert.deepEqual(item.selector, { language: 'python' }, 'shown with Python files only, as Pylance and ruff do');
  assert.equal(item.command.command, 'torchlint.showOutput');
  bar.set('starting');
  assert.ok(item.busy);
  bar.set('ready', '/py');
  assert.ok(!item.busy);
  assert.match(item.detail, /ready \(\/py\)/);
  assert.equal(item.severity, vscode.LanguageStatusSeverity.Information);
  bar.set('error', 'boom');
  assert.equal(item.severity, vscode.LanguageStatusSeverity.Error);
  assert.match(item.detail, /boom/);
  trusted = false;
  bar.set('ready');
  assert.match(item.detail, /Restricted Mode/);
  assert.match(statusView('stopped').text, /torchlint/);
});

test('an ERROR panel links the user\'s line and shows the output, not the facts of a run that never started', () => {
  const r = normalizeReport({
    verdict: 'ERROR', steps: 0, steps_requested: 100, losses: [], peak_memory_bytes: 207 * 1024 * 1024, device: 'cpu',
    error: 'ValueError: bad shape', error_location: { filename: '/w/train.py', row: 7 },
    output_tail: 'Traceback (most recent call last):\n  File "/w/train.py", line 7\nValueError: bad shape\n', uri: 'file:///w/train.py',
  });
  const html = renderPanelHtml(r, { cspSource: 'c', nonce: 'n', scriptUri: 's', trusted: true, errorLine: '    loss = loss_fn(model(x) < 1, y)' });
  assert.match(html, /<pre class="tail" id="error-line">7 \| loss = loss_fn\(model\(x\) &lt; 1, y\)<\/pre>/);
  assert.doesNotMatch(html, /Peak memory|Time per step|Device/);
  assert.match(html, /<a href="#" class="finding" id="error-location" data-filename="\/w\/train.py" data-row="7">train.py:7<\/a>/);
  assert.match(html, /<details open><summary>Last lines of the script's output/);
  assert.doesNotMatch(html, /Loss curve/);
});

test('the panel shows the run\'s notes (the script ended early)', () => {
  const r = normalizeReport({ ...REPORT, steps: 24, steps_requested: 100, notes: ['the script ended after 24 of 100 steps'] });
  const html = renderPanelHtml(r, { cspSource: 'c', nonce: 'n', scriptUri: 's', trusted: true });
  assert.match(html, /<td>Steps<\/td><td>24 of 100<\/td>/);
  assert.match(html, /<ul class="notes" id="notes"><li>the script ended after 24 of 100 steps<\/li><\/ul>/);
});

test('readLine reads one line of a file, or nothing', () => {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const { readLine } = require('../../out/panel.js');
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tl-')), 'a.py');
  fs.writeFileSync(f, 'a = 1\r\nb = 2\nc = 3');
  assert.equal(readLine(f, 2), 'b = 2');
  assert.equal(readLine(f, 9), undefined);
  assert.equal(readLine(f, null), undefined);
  assert.equal(readLine(f + 'x', 1), undefined);
});
