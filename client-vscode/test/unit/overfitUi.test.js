'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { normalizeReport, finalLoss } = require('../../out/report.js');
const { progressUpdate, endNotification, runLogLines, runStartLine, shellLine } = require('../../out/overfitUi.js');

const FAIL = {
  verdict: 'FAIL', device: 'cpu', steps: 24, steps_requested: 100, losses: [2.3, 2.29, 2.3, 2.28, 2.29, 2.3],
  initial_loss: 2.3, final_loss: 2.29, notes: ['the script ended after 24 of 100 steps'], seconds_per_step: 0.004,
  findings: [{ code: 'TLR07', message: 'gradients accumulate', filename: '/w/train.py', row: 14 }], error: null,
  uri: 'file:///w/train.py', command: ['/usr/bin/python3', '-m', 'torchlint', 'overfit', '/w/my train.py', '--steps', '100'],
};

test('progress: the server\'s step message and percentage become withProgress updates (increments)', () => {
  let u = progressUpdate({ kind: 'begin', message: 'starting train.py', percentage: 0 }, 0);
  assert.deepEqual(u, { message: 'starting train.py', shown: 0 });
  u = progressUpdate({ kind: 'report', message: 'step 9/100 loss 2.295', percentage: 9 }, u.shown);
  assert.deepEqual(u, { message: 'step 9/100 loss 2.295', increment: 9, shown: 9 });
  u = progressUpdate({ kind: 'report', message: 'step 30/100 loss 1.1', percentage: 30 }, u.shown);
  assert.equal(u.increment, 21);
  assert.equal(progressUpdate({ kind: 'report', message: 'x', percentage: 20 }, 30).increment, undefined, 'never backwards');
  assert.deepEqual(progressUpdate({ kind: 'end', message: 'done' }, 30), { shown: 30 });
});

test('one notification at the end: information for PASS, warning otherwise, none when cancelled', () => {
  const pass = endNotification(normalizeReport({ ...FAIL, verdict: 'PASS', final_loss: 0.01 }), 'train.py');
  assert.equal(pass.level, 'information');
  assert.equal(pass.text, 'torchlint: overfit check PASS, loss 2.3 → 0.01 (train.py)');
  assert.equal(endNotification(normalizeReport(FAIL), 'train.py').level, 'warning');
  assert.equal(endNotification(normalizeReport({ ...FAIL, verdict: 'ERROR', steps: 0, losses: [], error: 'boom' }), 'train.py').level, 'warning');
  assert.equal(endNotification(normalizeReport({ ...FAIL, verdict: 'ERROR', cancelled: true }), 'train.py'), undefined);
  const hidden = { code: 'TLR04', message: 'no optimizer updates it', filename: '/w/train.py', row: 9, severity: 'error' };
  const bug = endNotification(normalizeReport({ ...FAIL, verdict: 'PASS', final_loss: 0.01, findings: [hidden] }), 'train.py');
  assert.equal(bug.level, 'warning', 'a PASS with an error finding is not good news');
  assert.equal(bug.text, 'torchlint: overfit check PASS, loss 2.3 → 0.01, but TLR04 found a bug (train.py)');
});

test('the output channel gets the command line, steps, verdict, losses, timing, findings and notes', () => {
  assert.equal(runStartLine('/w/train.py', '/usr/bin/python3', 100), 'overfit check: /usr/bin/python3 -m torchlint overfit /w/train.py --steps 100');
  assert.equal(shellLine(FAIL.command), "/usr/bin/python3 -m torchlint overfit '/w/my train.py' --steps 100");
  const lines = runLogLines(normalizeReport(FAIL), 3210);
  assert.equal(lines[0], 'overfit check FAIL: 24/100 steps on cpu, loss 2.3 → 2.29 (final: median of the last steps), 3.2 s, 4.0 ms/step');
  assert.ok(lines.includes('  TLR07 /w/train.py:14: gradients accumulate'));
  assert.ok(lines.includes('  note: the script ended after 24 of 100 steps'));
  const err = runLogLines(normalizeReport({ ...FAIL, verdict: 'ERROR', steps: 0, losses: [], error: 'ValueError: bad',
    error_location: { filename: '/w/train.py', row: 7 }, output_tail: 'Traceback...\nValueError: bad\n' }), 900);
  assert.ok(err.includes('  error: ValueError: bad (/w/train.py:7)'));
  assert.equal(err[err.length - 1], '  | ValueError: bad');
  assert.match(runLogLines(normalizeReport({ ...FAIL, cancelled: true }), 1000)[0], /cancelled after 24\/100 steps/);
});

test('final loss: the median of the last five steps, as the verdict computes it', () => {
  assert.equal(finalLoss([9, 9, 1, 5, 2, 3, 4]), 3);
  assert.equal(finalLoss([4, 2]), 3);
  assert.equal(finalLoss([]), null);
  const r = normalizeReport({ verdict: 'PASS', losses: [8, 4, 2, 1, 0.5, 0.25] });
  assert.equal(r.initial_loss, 8);
  assert.equal(r.final_loss, 1);
});
