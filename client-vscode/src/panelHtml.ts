// The HTML of the overfit result panel. The chart itself is drawn by media/panel.js.
import { OverfitReport, formatBytes, formatSeconds } from './report';

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
}

export function renderPanelHtml(report: OverfitReport, opts: PanelHtmlOptions): string {
  const n = report.losses.length;
  const first = n ? report.losses[0] : null;
  const last = n ? report.losses[n - 1] : null;
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
</style>
</head>
<body>
<div class="verdict ${verdictClass(report.verdict)}" id="verdict">${escapeHtml(report.verdict)}</div>
<div class="script">${script}</div>
<table class="meta">
  <tr><td>Device</td><td>${escapeHtml(report.device || 'n/a')}</td></tr>
  <tr><td>Steps</td><td>${report.steps}</td></tr>
  <tr><td>Loss</td><td>${first !== null && last !== null ? `${first.toPrecision(4)} → ${last.toPrecision(4)}` : 'n/a'}</td></tr>
  <tr><td>Time per step</td><td>${formatSeconds(report.seconds_per_step)}</td></tr>
  <tr><td>Peak memory</td><td>${formatBytes(report.peak_memory_bytes)}</td></tr>
</table>
${report.error ? `<h3>Error</h3><div class="error-text">${escapeHtml(report.error)}</div>` : ''}
<h3>Loss curve</h3>
<div id="chart" role="img" aria-label="loss per step">${n ? '' : '<p>No loss values were recorded.</p>'}</div>
${plot}
<h3>Findings (${report.findings.length})</h3>
${report.findings.length ? `<ul class="findings">${findings}</ul>` : '<p>None.</p>'}
${opts.trusted ? '<p><a href="#" id="rerun">Run again</a></p>' : ''}
<script nonce="${opts.nonce}" id="report-data" type="application/json">${jsonForScript(report)}</script>
<script nonce="${opts.nonce}" src="${opts.scriptUri}"></script>
</body>
</html>`;
}
