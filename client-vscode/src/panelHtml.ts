// The HTML of the overfit result panel. The chart itself is drawn by media/panel.js.
import { FINAL_WINDOW, OverfitReport, formatBytes, formatSeconds, lossChange } from './report';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function verdictClass(verdict: string): string {
  const v = verdict.toUpperCase();
  if (v === 'PASS') return 'pass';
  if (v === 'ERROR' || v === 'TIMEOUT' || v === 'CANCELLED') return 'error';
  return 'fail';
}

function basename(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] || p;
}

export interface PanelHtmlOptions {
  cspSource: string;
  nonce: string;
  scriptUri: string;
  trusted: boolean;
  /** The text of the user's line an ERROR happened on (read by the extension), if known. */
  errorLine?: string;
}

/** The facts of a run; a script that never reached a step has no device, timing or memory to show. */
function metaRows(report: OverfitReport): string {
  const rows: [string, string][] = [];
  const steps = report.steps_requested ? `${report.steps} of ${report.steps_requested}` : `${report.steps}`;
  rows.push(['Steps', steps]);
  if (report.steps > 0) {
    const change = lossChange(report);
    rows.push(['Loss', change ? `${change} <span class="hint">(initial → final: median of the last ${FINAL_WINDOW} steps)</span>` : 'n/a']);
    rows.push(['Device', escapeHtml(report.device || 'n/a')]);
    rows.push(['Time per step', formatSeconds(report.seconds_per_step)]);
    rows.push(['Peak memory', formatBytes(report.peak_memory_bytes)]);
  }
  return rows.map(([k, v]) => `  <tr><td>${k}</td><td>${v}</td></tr>`).join('\n');
}

/** An ERROR: the cause, a link to the user's line it happened on, and the script's last output. */
function errorSection(report: OverfitReport, errorLine?: string): string {
  if (!report.error) return '';
  const loc = report.error_location;
  const code = loc && loc.row !== null && errorLine !== undefined && errorLine.trim()
    ? `<pre class="tail" id="error-line">${loc.row} | ${escapeHtml(errorLine.trim())}</pre>`
    : '';
  const link = loc
    ? `<p class="error-where">in <a href="#" class="finding" id="error-location" data-filename="${escapeHtml(loc.filename)}" data-row="${loc.row ?? ''}">` +
      `${escapeHtml(basename(loc.filename))}${loc.row !== null ? `:${loc.row}` : ''}</a></p>${code}`
    : '';
  const tail = report.output_tail.replace(/\n+$/, '').split('\n').slice(-15).join('\n');
  const output = tail.trim()
    ? `<details${report.steps === 0 ? ' open' : ''}><summary>Last lines of the script's output</summary><pre class="tail">${escapeHtml(tail)}</pre></details>`
    : '';
  return `<h3>Error</h3><div class="error-text" id="error-text">${escapeHtml(report.error)}</div>\n${link}\n${output}`;
}

export function renderPanelHtml(report: OverfitReport, opts: PanelHtmlOptions): string {
  const n = report.losses.length;
  const notes = report.notes.length
    ? `<ul class="notes" id="notes">${report.notes.map((t) => `<li>${escapeHtml(t)}</li>`).join('')}</ul>`
    : '';
  const findings = report.findings
    .map((f) => {
      const where = `${basename(f.filename)}${f.row !== null ? `:${f.row}` : ''}`;
      return (
        `<li><a href="#" class="finding" data-filename="${escapeHtml(f.filename)}" data-row="${f.row ?? ''}">` +
        `<code>${escapeHtml(f.code)}</code> ${escapeHtml(where)}</a> <span class="msg">${escapeHtml(f.message)}</span></li>`
      );
    })
    .join('\n');
  const plot =
    report.plot && /^data:image\/(png|svg\+xml);base64,[A-Za-z0-9+/=]+$/.test(report.plot)
      ? `<details><summary>Plot from the server</summary><img alt="plot" src="${report.plot}"></details>`
      : '';
  const script = report.uri ? escapeHtml(report.uri.replace(/^file:\/\//, '')) : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${opts.cspSource} data:; style-src ${opts.cspSource} 'unsafe-inline'; script-src 'nonce-${opts.nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>torchlint overfit check</title>
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em 1em; }
  .verdict { font-size: 1.6em; font-weight: bold; margin: .6em 0 .2em; }
  .verdict.pass { color: var(--vscode-testing-iconPassed, #3fb950); }
  .verdict.fail { color: var(--vscode-editorWarning-foreground, #d29922); }
  .verdict.error { color: var(--vscode-errorForeground, #f85149); }
  table.meta td { padding: 1px 1em 1px 0; }
  .error-text { white-space: pre-wrap; color: var(--vscode-errorForeground); font-family: var(--vscode-editor-font-family); }
  #chart svg { max-width: 100%; height: auto; }
  #chart .axis { stroke: var(--vscode-foreground); stroke-opacity: .5; }
  #chart .grid { stroke: var(--vscode-foreground); stroke-opacity: .12; }
  #chart .curve { stroke: var(--vscode-charts-blue, #3794ff); fill: none; stroke-width: 2; }
  #chart .dot { fill: var(--vscode-charts-blue, #3794ff); }
  #chart text { fill: var(--vscode-foreground); font-size: 11px; }
  ul.findings { padding-left: 1.2em; }
  a.finding { color: var(--vscode-textLink-foreground); cursor: pointer; }
  .msg { opacity: .85; }
  .hint { opacity: .7; }
  pre.tail { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); opacity: .85; }
  ul.notes { padding-left: 1.2em; color: var(--vscode-editorWarning-foreground, #d29922); }
</style>
</head>
<body>
<div class="verdict ${verdictClass(report.verdict)}" id="verdict">${escapeHtml(report.verdict)}</div>
<div class="script">${script}</div>
<table class="meta">
${metaRows(report)}
</table>
${notes}
${errorSection(report, opts.errorLine)}
${n || !report.error ? `<h3>Loss curve</h3>
<div id="chart" role="img" aria-label="loss per step">${n ? '' : '<p>No loss values were recorded.</p>'}</div>` : ''}
${plot}
<h3>Findings (${report.findings.length})</h3>
${report.findings.length ? `<ul class="findings">${findings}</ul>` : '<p>None.</p>'}
${opts.trusted ? '<p><a href="#" id="rerun">Run again</a></p>' : ''}
<script nonce="${opts.nonce}" id="report-data" type="application/json">${jsonForScript(report)}</script>
<script nonce="${opts.nonce}" src="${opts.scriptUri}"></script>
</body>
</html>`;
}
