// The overfit report JSON (contract with the server) and its normalisation.

export interface Finding {
  code: string;
  message: string;
  filename: string;
  row: number | null;
}

export interface OverfitReport {
  verdict: string;
  device: string;
  steps: number;
  losses: number[];
  seconds_per_step: number | null;
  peak_memory_bytes: number | null;
  findings: Finding[];
  error: string | null;
  plot?: string | null;
  uri?: string;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Accepts whatever the server sent and returns a well-formed report (never throws). */
export function normalizeReport(raw: unknown, uri?: string): OverfitReport {
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const losses = Array.isArray(r.losses)
    ? r.losses.map((x) => (typeof x === 'number' ? x : typeof x === 'string' ? Number(x) : NaN))
    : [];
  const findings = Array.isArray(r.findings)
    ? r.findings
        .filter((f): f is Record<string, unknown> => !!f && typeof f === 'object')
        .map((f) => ({
          code: String(f.code ?? ''),
          message: String(f.message ?? ''),
          filename: String(f.filename ?? ''),
          row: num(f.row),
        }))
    : [];
  return {
    verdict: typeof r.verdict === 'string' && r.verdict ? r.verdict : r.error ? 'ERROR' : 'UNKNOWN',
    device: typeof r.device === 'string' ? r.device : '',
    steps: num(r.steps) ?? losses.length,
    losses,
    seconds_per_step: num(r.seconds_per_step),
    peak_memory_bytes: num(r.peak_memory_bytes),
    findings,
    error: typeof r.error === 'string' && r.error ? r.error : null,
    plot: typeof r.plot === 'string' ? r.plot : null,
    uri: typeof r.uri === 'string' ? r.uri : uri ?? scriptUri(r.script),
  };
}

/** The server's report names the script as an absolute path (`script`); make a file URI of it. */
function scriptUri(script: unknown): string | undefined {
  if (typeof script !== 'string' || !script) return undefined;
  const p = script.replace(/\\/g, '/');
  if (!p.startsWith('/') && !/^[A-Za-z]:\//.test(p)) return undefined;
  return 'file://' + (p.startsWith('/') ? '' : '/') + p.split('/').map((seg) => encodeURIComponent(seg).replace(/%3A/g, ':')).join('/');
}

export function formatBytes(n: number | null): string {
  if (n === null) return 'n/a';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatSeconds(s: number | null): string {
  if (s === null) return 'n/a';
  return s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

/** One line for notifications and the status bar. */
export function summary(report: OverfitReport): string {
  const n = report.losses.length;
  const curve = n >= 2 ? `, loss ${report.losses[0].toPrecision(3)} → ${report.losses[n - 1].toPrecision(3)}` : '';
  return `${report.verdict}${curve}${report.error ? ` (${report.error.split('\n')[0]})` : ''}`;
}
