// The overfit report JSON (contract with the server) and its normalisation.

export interface Finding {
  code: string;
  message: string;
  filename: string;
  row: number | null;
  /** error | warning | information ('' when the server did not say). */
  severity: string;
}

export interface OverfitReport {
  verdict: string;
  device: string;
  steps: number;
  /** Steps asked for (`--steps`); 0 when the server did not say. */
  steps_requested: number;
  losses: number[];
  /** The losses the verdict compared: the first finite loss and the median of the last steps. */
  initial_loss: number | null;
  final_loss: number | null;
  notes: string[];
  /** The user cancelled the run: it says nothing about the code. */
  cancelled: boolean;
  /** The user's frame of the exception of an ERROR. */
  error_location: { filename: string; row: number | null } | null;
  output_tail: string;
  duration_seconds: number | null;
  interpreter: string | null;
  command: string[];
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
          severity: typeof f.severity === 'string' ? f.severity : '',
        }))
    : [];
  const loc = r.error_location && typeof r.error_location === 'object' ? (r.error_location as Record<string, unknown>) : null;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  return {
    verdict: typeof r.verdict === 'string' && r.verdict ? r.verdict : r.error ? 'ERROR' : 'UNKNOWN',
    device: typeof r.device === 'string' ? r.device : '',
    steps: num(r.steps) ?? losses.length,
    steps_requested: num(r.steps_requested) ?? 0,
    losses,
    initial_loss: num(r.initial_loss) ?? (r.initial_loss === undefined ? firstFinite(losses) : null),
    final_loss: num(r.final_loss) ?? (r.final_loss === undefined ? finalLoss(losses) : null),
    notes: strings(r.notes),
    cancelled: r.cancelled === true,
    error_location: loc && typeof loc.filename === 'string' && loc.filename ? { filename: loc.filename, row: num(loc.row) } : null,
    output_tail: typeof r.output_tail === 'string' ? r.output_tail : '',
    duration_seconds: num(r.duration_seconds),
    interpreter: typeof r.interpreter === 'string' && r.interpreter ? r.interpreter : null,
    command: strings(r.command),
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

/** Steps over which the final loss is the median: probe/verdict.py's FINAL_WINDOW. */
export const FINAL_WINDOW = 5;

function firstFinite(losses: number[]): number | null {
  return losses.find((x) => Number.isFinite(x)) ?? null;
}

/** The verdict's "final loss" (median of the last steps), for servers that do not send it. */
export function finalLoss(losses: number[]): number | null {
  const tail = losses.slice(-FINAL_WINDOW).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (!tail.length) return null;
  const m = tail.length >> 1;
  return tail.length % 2 ? tail[m] : (tail[m - 1] + tail[m]) / 2;
}

/** A loss as the CLI and the runtime findings print it (Python's `{:.4g}`): 0.6297, 0.618, 4.1e-07. */
export function formatLoss(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const [mantissa, e] = x.toExponential(3).split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= 4) {
    const m = mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa;
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(Number(x.toPrecision(4)));
}

/** "2.303 → 0.0123": the losses the verdict compared, printed as the CLI prints them. */
export function lossChange(report: OverfitReport): string | null {
  const { initial_loss: a, final_loss: b } = report;
  return a !== null && b !== null ? `${formatLoss(a)} → ${formatLoss(b)}` : null;
}

/** One line for the notification and the log. */
export function summary(report: OverfitReport): string {
  if (report.cancelled) return `cancelled after ${report.steps} steps`;
  const change = report.steps >= 2 ? lossChange(report) : null;
  return `${report.verdict}${change ? `, loss ${change}` : ''}${report.error ? ` (${report.error.split('\n')[0]})` : ''}`;
}
