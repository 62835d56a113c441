// What the overfit check shows while it runs and when it ends: the progress notification's
// updates, the one notification at the end, and the run's lines in the output channel.
// Pure (no vscode import) so that it is unit-tested.
import { OverfitReport, lossChange, summary } from './report';

export interface ProgressValue {
  kind: string;
  message?: string;
  percentage?: number;
}

/**
 * One `$/progress` value of the server as an update of `withProgress` (whose `increment` is a
 * delta): the message ("step 9/100 loss 2.295") and how far the bar moves since `shown` percent.
 */
export function progressUpdate(value: ProgressValue, shown: number): { message?: string; increment?: number; shown: number } {
  const out: { message?: string; increment?: number; shown: number } = { shown };
  if (value.kind === 'end') return out;
  if (value.message) out.message = value.message;
  if (typeof value.percentage === 'number' && Number.isFinite(value.percentage)) {
    const pct = Math.max(0, Math.min(100, value.percentage));
    if (pct > shown) {
      out.increment = pct - shown;
      out.shown = pct;
    }
  }
  return out;
}

export type Level = 'information' | 'warning';

/**
 * The one notification at the end of a run: information for PASS, a warning otherwise (also
 * for a PASS with a runtime finding of severity error); none for a run the user cancelled
 * (the progress notification said so already).
 */
export function endNotification(report: OverfitReport, name: string): { level: Level; text: string } | undefined {
  if (report.cancelled) return undefined;
  // one batch can be memorised in spite of a bug a runtime check found (a layer never trained)
  const bugs = [...new Set(report.findings.filter((f) => f.severity === 'error').map((f) => f.code))];
  const level: Level = report.verdict === 'PASS' && bugs.length === 0 ? 'information' : 'warning';
  const found = report.verdict === 'PASS' && bugs.length ? `, but ${bugs.join(' and ')} found a bug` : '';
  return { level, text: `torchlint: overfit check ${summary(report)}${found} (${name})` };
}

/** The end of a run in the output channel: verdict, steps, losses, timing, findings, error. */
export function runLogLines(report: OverfitReport, elapsedMs: number): string[] {
  const lines: string[] = [];
  const steps = report.steps_requested ? `${report.steps}/${report.steps_requested}` : `${report.steps}`;
  const time = `${(elapsedMs / 1000).toFixed(1)} s`;
  const perStep = report.seconds_per_step !== null ? `, ${(report.seconds_per_step * 1000).toFixed(1)} ms/step` : '';
  if (report.cancelled) {
    lines.push(`overfit check cancelled after ${steps} steps (${time}); the previous result is kept`);
    return lines;
  }
  const change = lossChange(report);
  lines.push(
    `overfit check ${report.verdict}: ${steps} steps${report.device ? ` on ${report.device}` : ''}` +
      `${change ? `, loss ${change} (final: median of the last steps)` : ''}, ${time}${perStep}`,
  );
  if (report.error) {
    const loc = report.error_location;
    lines.push(`  error: ${report.error}${loc ? ` (${loc.filename}${loc.row !== null ? `:${loc.row}` : ''})` : ''}`);
  }
  for (const f of report.findings) {
    lines.push(`  ${f.code} ${f.filename ? `${f.filename}${f.row !== null ? `:${f.row}` : ''}: ` : ''}${f.message}`);
  }
  for (const n of report.notes) lines.push(`  note: ${n}`);
  if (report.verdict === 'ERROR' && report.output_tail.trim()) {
    lines.push('  --- last lines of the script\'s output ---');
    for (const l of report.output_tail.replace(/\n+$/, '').split('\n').slice(-20)) lines.push(`  | ${l}`);
  }
  return lines;
}

/** The start of a run in the output channel: what runs, with which interpreter and steps. */
export function runStartLine(file: string, interpreter: string, steps: number): string {
  return `overfit check: ${interpreter} -m torchlint overfit ${file} --steps ${steps}`;
}

/** Quotes a command line for the log (arguments with spaces in quotes). */
export function shellLine(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
