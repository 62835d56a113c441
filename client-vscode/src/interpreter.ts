// Which Python runs `python -m torchlint server`, and whether torchlint is importable there.
// Takes the parts of the VS Code API it needs as parameters, so it can be tested with stubs.

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

export const DEFAULT_PYTHON = process.platform === 'win32' ? 'python' : 'python3';
export const PYTHON_EXTENSION_ID = 'ms-python.python';

/** The subset of the Python extension's public API (`@vscode/python-extension`) that we use. */
export interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: unknown): { id?: string; path: string } | undefined;
  resolveEnvironment?(env: unknown): Promise<{ executable?: { uri?: { fsPath: string } } } | undefined>;
  onDidChangeActiveEnvironmentPath?: (listener: (e: unknown) => unknown) => { dispose(): unknown };
}

export interface ExtensionsLike {
  getExtension(id: string):
    | { isActive: boolean; activate(): Thenable<unknown> | Promise<unknown>; exports: unknown }
    | undefined;
}

/** Returns the environments API of ms-python.python, activating it if needed; undefined if absent. */
export async function pythonEnvironmentsApi(
  extensions: ExtensionsLike,
  log: (msg: string) => void = () => undefined,
): Promise<PythonEnvironmentsApi | undefined> {
  const ext = extensions.getExtension(PYTHON_EXTENSION_ID);
  if (!ext) return undefined;
  try {
    const exports = (ext.isActive ? ext.exports : await ext.activate()) ?? ext.exports;
    const envs = (exports as { environments?: PythonEnvironmentsApi } | undefined)?.environments;
    if (envs && typeof envs.getActiveEnvironmentPath === 'function') return envs;
    log('ms-python.python is installed but exposes no environments API');
  } catch (e) {
    log(`could not activate ms-python.python: ${String(e)}`);
  }
  return undefined;
}

/** The active interpreter of the Python extension for `resource`, as an executable path. */
export async function activePythonExtensionInterpreter(
  envs: PythonEnvironmentsApi | undefined,
  resource?: unknown,
): Promise<string | undefined> {
  if (!envs) return undefined;
  const active = envs.getActiveEnvironmentPath(resource);
  if (!active) return undefined;
  if (envs.resolveEnvironment) {
    try {
      const resolved = await envs.resolveEnvironment(active);
      const exe = resolved?.executable?.uri?.fsPath;
      if (exe) return exe;
    } catch {
      // fall back to the unresolved path
    }
  }
  return active.path || undefined;
}

/**
 * Picks the interpreter: an explicit `torchlint.interpreter` setting wins (the user asked for it),
 * then the Python extension's active interpreter, then `python3`.
 */
export async function resolveInterpreter(opts: {
  setting: string | undefined;
  pythonApi: PythonEnvironmentsApi | undefined;
  resource?: unknown;
  expandVariables?: (s: string) => string;
}): Promise<Interpreter> {
  const setting = (opts.setting ?? '').trim();
  if (setting) {
    return { path: opts.expandVariables ? opts.expandVariables(setting) : setting, source: 'setting' };
  }
  const fromExt = await activePythonExtensionInterpreter(opts.pythonApi, opts.resource);
  if (fromExt) return { path: fromExt, source: 'python-extension' };
  return { path: DEFAULT_PYTHON, source: 'default' };
}

/** Expands `${workspaceFolder}`, `${userHome}` and `~` in a path setting. */
export function expandPathVariables(value: string, vars: { workspaceFolder?: string; userHome?: string }): string {
  let out = value;
  if (vars.userHome) {
    out = out.replace(/^~(?=$|[\\/])/, vars.userHome).replace(/\$\{userHome\}/g, vars.userHome);
  }
  if (vars.workspaceFolder) {
    out = out.replace(/\$\{workspaceFolder\}/g, vars.workspaceFolder);
  }
  return out;
}

export type ExecFile = (
  file: string,
  args: string[],
  options: { timeout: number; env?: NodeJS.ProcessEnv },
) => Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }>;

export type ImportCheck =
  | { ok: true; version: string }
  | { ok: false; reason: 'not-installed' | 'no-interpreter' | 'failed'; detail: string };

export const IMPORT_CHECK_SCRIPT = 'import torchlint, sys; sys.stdout.write(getattr(torchlint, "__version__", "?"))';

/** Runs `<python> -c "import torchlint"` and classifies the result. */
export async function checkTorchlintImportable(python: string, exec: ExecFile): Promise<ImportCheck> {
  const r = await exec(python, ['-c', IMPORT_CHECK_SCRIPT], { timeout: 60_000 });
  if (r.code === 0) return { ok: true, version: r.stdout.trim() };
  const err = r.error as (Error & { code?: string }) | undefined;
  if (err && (err.code === 'ENOENT' || err.code === 'EACCES')) {
    return { ok: false, reason: 'no-interpreter', detail: `${python}: ${err.message}` };
  }
  if (/ModuleNotFoundError|No module named/.test(r.stderr)) {
    return { ok: false, reason: 'not-installed', detail: r.stderr.trim() };
  }
  return { ok: false, reason: 'failed', detail: (r.stderr || err?.message || `exit code ${r.code}`).trim() };
}

/** The pip command line the "Install torchlint" button runs. */
export function pipInstallArgs(): string[] {
  return ['-m', 'pip', 'install', '--upgrade', 'torchlint'];
}

/** The text of the notification shown when the check fails. */
export function importCheckMessage(python: Interpreter, check: ImportCheck): string {
  if (check.ok) return '';
  const where =
    python.source === 'setting'
      ? `the interpreter set in torchlint.interpreter (${python.path})`
      : python.source === 'python-extension'
        ? `the Python extension's interpreter (${python.path})`
        : `${python.path} (no interpreter configured)`;
  switch (check.reason) {
    case 'no-interpreter':
      return `torchlint: cannot run ${where}. Set "torchlint.interpreter" to a Python 3.11+ executable.`;
    case 'not-installed':
      return `torchlint is not installed in ${where}. Install it with pip, or choose another interpreter in the settings.`;
    default:
      return `torchlint: importing torchlint failed in ${where}: ${check.detail.split('\n').slice(-1)[0]}`;
  }
}

/**
 * Which settings scope chooses the interpreter that runs the server (one server serves every
 * workspace folder): the workspace-level `torchlint.interpreter` (`scopes[0]`, scope undefined),
 * else the first folder (in the workspace's order) whose own value sets one, else the first folder
 * (whose Python extension interpreter is used). Each folder's own interpreter still runs its
 * overfit check and resolves its packages: the server gets it with the folder's settings.
 */
export function serverInterpreterScope<S>(scopes: ReadonlyArray<{ scope: S | undefined; setting: string }>): {
  scope: S | undefined;
  setting: string;
} {
  const chosen = scopes.find((s) => s.setting.trim());
  if (chosen) return chosen;
  const firstFolder = scopes.find((s) => s.scope !== undefined);
  return { scope: firstFolder?.scope, setting: '' };
}
