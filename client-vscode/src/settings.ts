// Reading the `torchlint.*` settings and mapping them to what the server receives
// (initializationOptions, workspace/configuration, workspace/didChangeConfiguration).
// Pure: takes a `get(key)` function so it can be tested without VS Code.
import { expandPathVariables } from './interpreter';

export type Severity = 'error' | 'warning' | 'information' | 'hint';
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'information', 'hint'];

export interface OverfitSettings {
  steps: number;
  timeout: number;
}

/** The object the server receives for section `torchlint`. */
export interface ServerSettings {
  select: string[];
  ignore: string[];
  severity: Record<string, Severity>;
  interpreter: string;
  overfit: OverfitSettings;
}

export const DEFAULTS: ServerSettings = {
  select: [],
  ignore: [],
  severity: {},
  interpreter: '',
  overfit: { steps: 100, timeout: 300 },
};

/** Minimal view of vscode.WorkspaceConfiguration for section `torchlint`. */
export interface ConfigReader {
  get<T>(key: string): T | undefined;
  inspect?(key: string): Record<string, unknown> | undefined;
}

/** The subset the server receives: only what the user set, so `[tool.torchlint]` keeps the rest. */
export type ServerPayload = Partial<Omit<ServerSettings, 'overfit'>> & { overfit?: Partial<OverfitSettings> };

/** True when `key` has a value set by the user at any level (not just the contributed default). */
export function isExplicit(config: ConfigReader, key: string): boolean {
  if (!config.inspect) return true;
  const i = config.inspect(key);
  if (!i) return false;
  return Object.entries(i).some(([k, v]) => k !== 'key' && !/^default/.test(k) && v !== undefined);
}

function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) {
    return typeof value === 'string' && value.trim() ? [value.trim()] : [];
  }
  return value
    .filter((v): v is string => typeof v === 'string')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

function severityMap(value: unknown): Record<string, Severity> {
  const out: Record<string, Severity> = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return out;
  }
  for (const [code, sev] of Object.entries(value as Record<string, unknown>)) {
    if (typeof sev !== 'string') continue;
    const s = sev.trim().toLowerCase();
    // Accept the common aliases users type by hand.
    const norm = s === 'info' ? 'information' : s === 'warn' ? 'warning' : s;
    if ((SEVERITIES as readonly string[]).includes(norm)) {
      out[code.trim()] = norm as Severity;
    }
  }
  return out;
}

function positiveNumber(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : fallback;
}

/**
 * `torchlint.interpreter` is a `string[]` as ruff's `ruff.interpreter` (its first entry is the
 * executable); a plain string, as older settings have it, is read too.
 */
export function interpreterSetting(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  return stringList(value)[0] ?? '';
}

/** Reads the `torchlint` configuration section into the server's shape, with defaults and validation. */
export function readSettings(config: ConfigReader): ServerSettings {
  const interpreter = interpreterSetting(config.get('interpreter'));
  return {
    select: stringList(config.get('select')),
    ignore: stringList(config.get('ignore')),
    severity: severityMap(config.get('severity')),
    interpreter,
    overfit: {
      steps: Math.round(positiveNumber(config.get('overfit.steps'), DEFAULTS.overfit.steps)),
      timeout: positiveNumber(config.get('overfit.timeout'), DEFAULTS.overfit.timeout),
    },
  };
}

/**
 * What the server receives for section `torchlint`: the keys the user set explicitly (at any
 * level), validated; contributed defaults are left out so that `[tool.torchlint]` in
 * pyproject.toml decides them. `interpreter` is always sent (it is what runs the overfit check).
 */
export function serverPayload(config: ConfigReader): ServerPayload {
  const all = readSettings(config);
  const out: ServerPayload = {};
  if (isExplicit(config, 'select')) out.select = all.select;
  if (isExplicit(config, 'ignore')) out.ignore = all.ignore;
  if (isExplicit(config, 'severity')) out.severity = all.severity;
  out.interpreter = all.interpreter;
  const overfit: Partial<OverfitSettings> = {};
  if (isExplicit(config, 'overfit.steps')) overfit.steps = all.overfit.steps;
  if (isExplicit(config, 'overfit.timeout')) overfit.timeout = all.overfit.timeout;
  if (Object.keys(overfit).length) out.overfit = overfit;
  return out;
}

/**
 * initializationOptions: the same object as the `torchlint` section of workspace/configuration,
 * plus `workspaceTrusted` (false in Restricted Mode; the server ignores unknown keys).
 */
export function initializationOptions(payload: ServerPayload, trusted: boolean) {
  return { ...payload, workspaceTrusted: trusted };
}

/** Params of workspace/didChangeConfiguration. */
export function didChangeConfigurationParams(payload: ServerPayload) {
  return { settings: { torchlint: payload } };
}

export interface ConfigurationItemLike {
  scopeUri?: string;
  section?: string;
}

/**
 * Answers a workspace/configuration request. Items for section `torchlint` (or a key inside it,
 * such as `torchlint.overfit`) are answered from our settings; the rest come from `fallback`
 * (the default handler's answer), position by position.
 */
export function answerConfiguration(
  items: ConfigurationItemLike[],
  read: (scopeUri: string | undefined) => ServerPayload,
  fallback: unknown[] = [],
): unknown[] {
  return items.map((item, i) => {
    const section = item.section ?? '';
    if (section === 'torchlint') {
      return read(item.scopeUri);
    }
    if (section.startsWith('torchlint.')) {
      let value: unknown = read(item.scopeUri);
      for (const part of section.slice('torchlint.'.length).split('.')) {
        value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
      }
      return value ?? null;
    }
    return i < fallback.length ? fallback[i] : null;
  });
}

/** Which kind of reaction a configuration change needs. */
export function changeReaction(affects: (section: string) => boolean): 'restart' | 'notify' | 'none' {
  if (affects('torchlint.interpreter')) return 'restart';
  if (affects('torchlint')) return 'notify';
  return 'none';
}

/**
 * The reaction to a configuration change in a multi-root workspace (settings are per folder, as
 * in ruff's and Pylance's extensions). Only the interpreter that runs the server (the one of
 * `serverScope`; undefined: the workspace-level value, which any change may affect) restarts it;
 * a change in any folder, `torchlint.interpreter` of another folder included, is notified: the
 * server asks again for every folder's settings and re-analyses the documents of the folders whose
 * settings changed. `affects` is `ConfigurationChangeEvent.affectsConfiguration`.
 */
export function folderChangeReaction<S>(
  affects: (section: string, scope?: S) => boolean,
  folders: readonly S[],
  serverScope: S | undefined,
): 'restart' | 'notify' | 'none' {
  if (serverScope === undefined ? affects('torchlint.interpreter') : affects('torchlint.interpreter', serverScope)) {
    return 'restart';
  }
  if (affects('torchlint') || folders.some((f) => affects('torchlint', f))) return 'notify';
  return 'none';
}

/**
 * The `torchlint` section for one workspace folder, as the server receives it: `${workspaceFolder}`
 * (and `~`) in `interpreter` expanded with that folder's path (the server cannot know which folder
 * a variable means); with no interpreter set, the Python extension's interpreter of the folder
 * when it is not the one the server runs on (a folder with its own virtual environment gets its
 * packages resolved, and its overfit check run, by its own Python).
 */
export function folderPayload(
  payload: ServerPayload,
  folder: { path?: string; userHome?: string; pythonExtension?: string; serverInterpreter?: string },
): ServerPayload {
  const out: ServerPayload = { ...payload };
  const set = (payload.interpreter ?? '').trim();
  if (set) {
    out.interpreter = expandPathVariables(set, { workspaceFolder: folder.path, userHome: folder.userHome });
  } else if (folder.pythonExtension && folder.pythonExtension !== folder.serverInterpreter) {
    out.interpreter = folder.pythonExtension;
  }
  return out;
}
