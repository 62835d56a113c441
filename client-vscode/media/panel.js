// Script of the torchlint overfit result panel: draws the loss curve as inline SVG and turns
// clicks on findings into messages to the extension. Also loadable from Node for unit tests.
(function (root) {
  'use strict';

  function niceNumber(v) {
    if (!isFinite(v)) return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
    return String(Number(v.toPrecision(3)));
  }

  /**
   * Returns SVG markup for a loss curve. Non-finite losses (NaN/inf) are skipped and marked in red
   * on the x axis. Uses a log scale when the losses span more than two decades and are all > 0.
   */
  function buildChartSvg(losses, opts) {
    opts = opts || {};
    var width = opts.width || 640;
    var height = opts.height || 280;
    var m = { left: 56, right: 16, top: 12, bottom: 34 };
    var pw = width - m.left - m.right;
    var ph = height - m.top - m.bottom;
    var pts = [];
    var bad = [];
    for (var i = 0; i < losses.length; i++) {
      var y = losses[i];
      if (typeof y === 'number' && isFinite(y)) pts.push([i, y]);
      else bad.push(i);
    }
    var parts = [];
    parts.push('<svg xmlns="http://www.w3.org/2000/svg" class="loss-chart" width="' + width + '" height="' +
      height + '" viewBox="0 0 ' + width + ' ' + height + '">');
    if (!pts.length) {
      parts.push('<text x="' + width / 2 + '" y="' + height / 2 + '" text-anchor="middle">no finite loss values</text></svg>');
      return parts.join('');
    }
    var ys = pts.map(function (p) { return p[1]; });
    var ymin = Math.min.apply(null, ys);
    var ymax = Math.max.apply(null, ys);
    var log = ymin > 0 && ymax / ymin > 100;
    var f = log ? function (v) { return Math.log10(v); } : function (v) { return v; };
    var lo = f(ymin), hi = f(ymax);
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    if (!log) { var pad = (hi - lo) * 0.05; lo = Math.max(ymin >= 0 ? 0 : -Infinity, lo - pad); hi += pad; }
    var n = Math.max(losses.length - 1, 1);
    function sx(i) { return m.left + (i / n) * pw; }
    function sy(v) { return m.top + (1 - (f(v) - lo) / (hi - lo)) * ph; }
    // grid + y ticks
    for (var t = 0; t <= 4; t++) {
      var yv = lo + (hi - lo) * t / 4;
      var py = m.top + (1 - t / 4) * ph;
      var label = log ? niceNumber(Math.pow(10, yv)) : niceNumber(yv);
      parts.push('<line class="grid" x1="' + m.left + '" x2="' + (m.left + pw) + '" y1="' + py.toFixed(1) + '" y2="' + py.toFixed(1) + '"/>');
      parts.push('<text x="' + (m.left - 6) + '" y="' + (py + 4).toFixed(1) + '" text-anchor="end">' + label + '</text>');
    }
    // x ticks: first, middle, last step
    var xt = [0, Math.floor(n / 2), n];
    for (var k = 0; k < xt.length; k++) {
      if (k > 0 && xt[k] === xt[k - 1]) continue;
      parts.push('<text x="' + sx(xt[k]).toFixed(1) + '" y="' + (m.top + ph + 16) + '" text-anchor="middle">' + (xt[k] + 1) + '</text>');
    }
    parts.push('<text x="' + (m.left + pw / 2) + '" y="' + (height - 3) + '" text-anchor="middle">step</text>');
    parts.push('<text x="12" y="' + (m.top + ph / 2) + '" text-anchor="middle" transform="rotate(-90 12 ' +
      (m.top + ph / 2) + ')">loss' + (log ? ' (log)' : '') + '</text>');
    parts.push('<line class="axis" x1="' + m.left + '" x2="' + m.left + '" y1="' + m.top + '" y2="' + (m.top + ph) + '"/>');
    parts.push('<line class="axis" x1="' + m.left + '" x2="' + (m.left + pw) + '" y1="' + (m.top + ph) + '" y2="' + (m.top + ph) + '"/>');
    var d = pts.map(function (p, j) { return (j ? 'L' : 'M') + sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1); }).join(' ');
    parts.push('<path class="curve" d="' + d + '"/>');
    if (pts.length <= 60) {
      pts.forEach(function (p) {
        parts.push('<circle class="dot" r="2.5" cx="' + sx(p[0]).toFixed(1) + '" cy="' + sy(p[1]).toFixed(1) + '"><title>step ' +
          (p[0] + 1) + ': ' + niceNumber(p[1]) + '</title></circle>');
      });
    }
    bad.forEach(function (i) {
      parts.push('<circle class="nonfinite" fill="#f85149" r="3" cx="' + sx(i).toFixed(1) + '" cy="' + (m.top + ph) + '"><title>step ' +
        (i + 1) + ': ' + String(losses[i]) + '</title></circle>');
    });
    parts.push('</svg>');
    return parts.join('');
  }

  var api = { buildChartSvg: buildChartSvg, niceNumber: niceNumber };
  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  }

  // In the webview.
  if (typeof document !== 'undefined' && typeof acquireVsCodeApi === 'function') {
    var vscode = acquireVsCodeApi();
    var dataEl = document.getElementById('report-data');
    var report = dataEl ? JSON.parse(dataEl.textContent || '{}') : {};
    var chart = document.getElementById('chart');
    if (chart && report.losses && report.losses.length) {
      chart.innerHTML = buildChartSvg(report.losses.map(function (x) { return x === null ? NaN : x; }));
    }
    document.querySelectorAll('a.finding').forEach(function (a) {
      a.addEventListener('click', function (ev) {
        ev.preventDefault();
        var row = parseInt(a.getAttribute('data-row') || '', 10);
        vscode.postMessage({ type: 'open', filename: a.getAttribute('data-filename'), row: isNaN(row) ? null : row });
      });
    });
    var rerun = document.getElementById('rerun');
    if (rerun) {
      rerun.addEventListener('click', function (ev) { ev.preventDefault(); vscode.postMessage({ type: 'rerun' }); });
    }
    vscode.postMessage({ type: 'ready' });
  }
  root.torchlintPanel = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);
