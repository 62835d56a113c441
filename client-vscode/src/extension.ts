// torchlint VS Code extension: starts `<python> -m torchlint server` over stdio with
// vscode-languageclient, mirrors the settings, and drives the overfit check UI.
import * as vscode from 'vscode';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as crypto from 'crypto';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State as ClientState,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
  ServerPayload,
  ServerSettings,
  didChangeConfigurationParams,
  folderChangeReaction,
  folderPayload,
  initializationOptions,
  readSettings,
  serverPayload,
} from './settings';
import {
  ExecFile,
  Interpreter,
  PythonEnvironmentsApi,
  activePythonExtensionInterpreter,
  checkTorchlintImportable,
  expandPathVariables,
  importCheckMessage,
  pipInstallArgs,
  pythonEnvironmentsApi,
  resolveInterpreter,
  serverInterpreterScope,
} from './interpreter';
import {
  CANCEL_COMMAND,
  MANAGE_TRUST_ACTION,
  MANAGE_TRUST_COMMAND,
  OVERFIT_COMMAND,
  overfitGate,
} from './trust';
import { OverfitReport, normalizeReport } from './report';
import { ResultPanel } from './panel';
import { StatusBar } from './status';
import { endNotification, progressUpdate, runLogLines, runStartLine, shellLine } from './overfitUi';
import { createMiddleware } from './middleware';

export const OVERFIT_RESULT_NOTIFICATION = 'torchlint/overfitResult';
const INSTALL_ACTION = 'Install torchlint';
const SETTINGS_ACTION = 'Open Settings';
const OUTPUT_ACTION = 'Show Output';

/**
 * Working directory of every Python process the extension starts. Never the workspace folder:
 * `python -m` and `python -c` put the working directory first on sys.path, so a module in an
 * (untrusted) folder could shadow torchlint or one of its dependencies and run on open.
 */
let safeCwd: string = os.tmpdir();

const execFile: ExecFile = (file, args, options) =>
  new Promise((resolve) => {
    cp.execFile(file, args, { timeout: options.timeout, env: options.env ?? process.env, cwd: safeCwd }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr), error: error ?? undefined });
    });
  });

interface RunningOverfit {
  uri: string;
  startedAt: number;
  cancelled: boolean;
}

class Controller implements vscode.Disposable {
  client: LanguageClient | undefined;
  interpreter: Interpreter | undefined;
  /** The folder whose `torchlint.interpreter` runs the server (undefined: the workspace-level value). */
  private serverScope: vscode.WorkspaceFolder | undefined;
  readonly output: vscode.LogOutputChannel;
  readonly status: StatusBar;
  readonly panel: ResultPanel;
  private pythonApi: PythonEnvironmentsApi | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private running: RunningOverfit | undefined;
  private lastResults = new Map<string, { at: number; report: OverfitReport }>();
  private resultWaiters = new Map<string, (r: OverfitReport | undefined) => void>();
  private disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('torchlint', { log: true });
    this.status = new StatusBar(vscode, () => vscode.workspace.isTrusted);
    this.panel = new ResultPanel(vscode, context.extensionUri, (m) => this.log(m), (uri) =>
      this.runOverfit({ uri, line: null }),
    );
  }

  log(msg: string): void {
    this.output.info(`[client] ${msg}`);
  }

  settings(scope?: vscode.ConfigurationScope): ServerSettings {
    return readSettings(vscode.workspace.getConfiguration('torchlint', scope));
  }

  payload(scope?: vscode.ConfigurationScope): ServerPayload {
    return serverPayload(vscode.workspace.getConfiguration('torchlint', scope));
  }

  /**
   * The `torchlint` section the server gets for a scope URI (a workspace folder, or a document):
   * that folder's settings, with its interpreter (see folderPayload). Each folder has its own,
   * as in ruff's and Pylance's extensions; no scope: the workspace-level settings.
   */
  async folderPayload(scopeUri: string | undefined): Promise<ServerPayload> {
    const uri = scopeUri ? vscode.Uri.parse(scopeUri) : undefined;
    const folder = uri ? vscode.workspace.getWorkspaceFolder(uri) : vscode.workspace.workspaceFolders?.[0];
    const payload = uri ? this.payload(folder?.uri ?? uri) : this.payload();
    const pythonExtension =
      !payload.interpreter && folder && uri ? await activePythonExtensionInterpreter(this.pythonApi, folder.uri) : undefined;
    return folderPayload(payload, {
      path: folder?.uri.fsPath,
      userHome: os.homedir(),
      pythonExtension,
      serverInterpreter: this.interpreter?.path,
    });
  }

  /** The interpreter that runs the server, and the folder whose setting chose it. */
  private async serverInterpreter(): Promise<{ python: Interpreter; scope: vscode.WorkspaceFolder | undefined }> {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const chosen = serverInterpreterScope([
      { scope: undefined, setting: this.settings().interpreter },
      ...folders.map((f) => ({ scope: f, setting: this.settings(f.uri).interpreter })),
    ]);
    const folder = chosen.scope ?? folders[0];
    const python = await resolveInterpreter({
      setting: chosen.setting,
      pythonApi: this.pythonApi,
      resource: folder?.uri,
      expandVariables: (s) => expandPathVariables(s, { workspaceFolder: folder?.uri.fsPath, userHome: os.homedir() }),
    });
    return { python, scope: chosen.scope };
  }

  /** Serialises start/stop so that quick successive restarts do not race. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async init(): Promise<void> {
    this.pythonApi = await pythonEnvironmentsApi(vscode.extensions, (m) => this.log(m));
    const onEnv = this.pythonApi?.onDidChangeActiveEnvironmentPath;
    if (onEnv) {
      this.disposables.push(
        onEnv(async () => {
          // the server's interpreter changed: restart; a folder's: its settings change (notify)
          const { python } = await this.serverInterpreter();
          if (python.path !== this.interpreter?.path) {
            this.log('the Python extension changed the interpreter of the server: restarting');
            void this.restart();
          } else {
            this.notifyConfigurationChanged();
          }
        }) as vscode.Disposable,
      );
    }
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  private async doStart(): Promise<void> {
    this.status.set('starting');
    const { python, scope } = await this.serverInterpreter();
    this.interpreter = python;
    this.serverScope = scope;
    this.log(`interpreter: ${python.path} (from ${python.source}${scope ? ` of folder ${scope.name}` : ''})`);
    const check = await checkTorchlintImportable(python.path, execFile);
    if (!check.ok) {
      this.log(`torchlint is not usable with ${python.path}: ${check.detail}`);
      this.status.set('error', check.reason === 'not-installed' ? 'torchlint is not installed' : 'cannot run Python');
      void this.offerInstall(python, importCheckMessage(python, check), check.reason === 'not-installed');
      return;
    }
    this.log(`torchlint ${check.version} found`);

    const serverOptions: ServerOptions = {
      command: python.path,
      args: ['-m', 'torchlint', 'server'],
      options: { cwd: safeCwd, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'python' },
        { scheme: 'untitled', language: 'python' },
        // Python cells of Jupyter notebooks (synced as notebook documents)
        { notebook: 'jupyter-notebook', language: 'python' },
      ],
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // clientOverfitUi: this extension shows the overfit result (one notification), not the server
      // the workspace-level settings; the server then asks for each folder's (workspace/configuration)
      initializationOptions: { ...initializationOptions(await this.folderPayload(undefined), vscode.workspace.isTrusted), clientOverfitUi: true },
      middleware: createMiddleware({
        isTrusted: () => vscode.workspace.isTrusted,
        payload: (scopeUri) => this.folderPayload(scopeUri),
        runOverfit: (arg) => this.runOverfit(arg),
      }),
    };
    const client = new LanguageClient('torchlint', 'torchlint', serverOptions, clientOptions);
    this.client = client;
    client.onDidChangeState((e) => {
      if (this.client !== client) return;
      if (e.newState === ClientState.Running) this.status.set('ready', `${python.path}`);
      else if (e.newState === ClientState.Starting) this.status.set('starting');
      else if (e.newState === ClientState.Stopped && !this.stopping) this.status.set('error', 'the server stopped');
    });
    client.onNotification(OVERFIT_RESULT_NOTIFICATION, (params: unknown) => this.onOverfitResult(params));
    try {
      await client.start();
      this.status.set('ready', python.path);
      this.log('server started');
    } catch (e) {
      this.log(`server failed to start: ${String(e)}`);
      this.status.set('error', 'the server failed to start');
      void vscode.window.showErrorMessage(`torchlint: the server failed to start (${python.path}).`, OUTPUT_ACTION).then((a) => {
        if (a === OUTPUT_ACTION) this.output.show(true);
      });
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    this.stopping = true;
    try {
      if (client.isRunning()) await client.stop(5000);
    } catch (e) {
      this.log(`stopping the server: ${String(e)}`);
    } finally {
      this.stopping = false;
      this.status.set('stopped');
    }
  }

  private async offerInstall(python: Interpreter, message: string, installable: boolean): Promise<void> {
    const actions = installable ? [INSTALL_ACTION, SETTINGS_ACTION] : [SETTINGS_ACTION, OUTPUT_ACTION];
    const choice = await vscode.window.showErrorMessage(message, ...actions);
    if (choice === INSTALL_ACTION) {
      await this.installTorchlint(python);
    } else if (choice === SETTINGS_ACTION) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'torchlint.interpreter');
    } else if (choice === OUTPUT_ACTION) {
      this.output.show(true);
    }
  }

  private async installTorchlint(python: Interpreter): Promise<void> {
    const args = pipInstallArgs();
    this.log(`running: ${python.path} ${args.join(' ')}`);
    this.output.show(true);
    const code = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `torchlint: installing into ${python.path}` },
      () =>
        new Promise<number | null>((resolve) => {
          const child = cp.spawn(python.path, args, { env: process.env, cwd: safeCwd });
          child.stdout.on('data', (d) => this.output.append(String(d)));
          child.stderr.on('data', (d) => this.output.append(String(d)));
          child.on('error', (e) => {
            this.log(String(e));
            resolve(null);
          });
          child.on('close', (c) => resolve(c));
        }),
    );
    if (code === 0) {
      void vscode.window.showInformationMessage('torchlint: installed; starting the server.');
      await this.restart();
    } else {
      const a = await vscode.window.showErrorMessage(
        'torchlint: pip could not install torchlint into this interpreter (see the output). ' +
          'If it is an externally managed system Python, create a virtual environment and select it.',
        SETTINGS_ACTION,
        OUTPUT_ACTION,
      );
      if (a === SETTINGS_ACTION) await vscode.commands.executeCommand('workbench.action.openSettings', 'torchlint.interpreter');
      if (a === OUTPUT_ACTION) this.output.show(true);
    }
  }

  onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    const reaction = folderChangeReaction<vscode.WorkspaceFolder>(
      (s, scope) => e.affectsConfiguration(s, scope),
      vscode.workspace.workspaceFolders ?? [],
      this.serverScope,
    );
    if (reaction === 'restart') {
      this.log('torchlint.interpreter of the server changed: restarting the server');
      void this.restart();
    } else if (reaction === 'notify') {
      this.notifyConfigurationChanged();
    }
  }

  /** The server then asks again for every folder's settings and re-analyses what changed. */
  private notifyConfigurationChanged(): void {
    if (!this.client?.isRunning()) return;
    void this.client.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(this.payload()));
  }

  private onOverfitResult(params: unknown): void {
    const report = normalizeReport(params);
    const key = report.uri ?? '';
    this.lastResults.set(key, { at: Date.now(), report });
    const waiter = this.resultWaiters.get(key);
    if (waiter) {
      this.resultWaiters.delete(key);
      waiter(report);
    }
    // A cancelled run says nothing about the code: the panel keeps the last result.
    if (!report.cancelled) this.panel.show(report);
  }

  async runOverfit(arg: unknown): Promise<unknown> {
    const gate = overfitGate(vscode.workspace);
    if (!gate.allowed) {
      void vscode.window.showWarningMessage(gate.message!, MANAGE_TRUST_ACTION).then((a) => {
        if (a === MANAGE_TRUST_ACTION) void vscode.commands.executeCommand(MANAGE_TRUST_COMMAND);
      });
      return null;
    }
    const a = (arg && typeof arg === 'object' ? arg : {}) as { uri?: string; line?: number | null };
    const uri = a.uri;
    if (!uri) {
      void vscode.window.showWarningMessage('torchlint: open a Python training script to run the overfit check.');
      return null;
    }
    const client = this.client;
    if (!client || !client.isRunning()) {
      void vscode.window.showErrorMessage('torchlint: the server is not running.', OUTPUT_ACTION).then((x) => {
        if (x === OUTPUT_ACTION) this.output.show(true);
      });
      return null;
    }
    if (this.running) {
      void vscode.window.showInformationMessage('torchlint: an overfit check is already running.');
      return null;
    }
    // The server runs the file on disk: save it first.
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    if (doc?.isDirty) await doc.save();

    const name = decodeURIComponent(uri.split('/').pop() ?? uri);
    const started = Date.now();
    this.running = { uri, startedAt: started, cancelled: false };
    void vscode.commands.executeCommand('setContext', 'torchlint.overfitRunning', true);
    // the settings (and interpreter) of the script's folder: the server runs it with those
    const settings = this.settings(vscode.Uri.parse(uri));
    const timeoutMs = (settings.overfit.timeout + 60) * 1000;
    const folderPython = (await this.folderPayload(uri)).interpreter;
    this.log(runStartLine(vscode.Uri.parse(uri).fsPath, folderPython || this.interpreter?.path || 'python', settings.overfit.steps));
    try {
      // One indicator: this notification, cancellable, fed by the server's progress on our token.
      const report = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `torchlint: overfit check on ${name}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => void this.cancelOverfit());
          const workDoneToken = crypto.randomUUID();
          let shown = 0;
          const sub = client.onProgress(WorkDoneProgress.type, workDoneToken, (v) => {
            const u = progressUpdate(v, shown);
            shown = u.shown;
            if (u.message !== undefined || u.increment !== undefined) progress.report({ message: u.message, increment: u.increment });
          });
          try {
            progress.report({ message: 'starting the script…' });
            const result = await client.sendRequest(ExecuteCommandRequest.type, {
              command: OVERFIT_COMMAND,
              arguments: [{ uri, line: typeof a.line === 'number' ? a.line : null }],
              workDoneToken,
            });
            if (result && typeof result === 'object' && 'verdict' in (result as object)) {
              return normalizeReport(result, uri);
            }
            // The server may answer early and deliver the report by notification only
            // (after a cancel, only briefly: there may be no report at all).
            return await this.waitForResult(uri, started, this.running?.cancelled ? 5000 : timeoutMs);
          } finally {
            sub.dispose();
          }
        },
      );
      const elapsed = Date.now() - started;
      if (!report) {
        this.log(`overfit check: no result after ${(elapsed / 1000).toFixed(1)} s${this.running?.cancelled ? ' (cancelled)' : ''}`);
        if (this.running?.cancelled) vscode.window.setStatusBarMessage('$(circle-slash) torchlint: overfit check cancelled', 5000);
        return null;
      }
      if (report.command.length) this.log(`ran: ${shellLine(report.command)}`);
      for (const line of runLogLines(report, elapsed)) this.output.info(line);
      if (report.cancelled || this.running?.cancelled) {
        vscode.window.setStatusBarMessage('$(circle-slash) torchlint: overfit check cancelled; the last result is kept', 8000);
        return report;
      }
      this.panel.show(report);
      const note = endNotification(report, name);
      if (note) {
        const show = note.level === 'information' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
        void show(note.text, OUTPUT_ACTION).then((x) => {
          if (x === OUTPUT_ACTION) this.output.show(true);
        });
      }
      return report;
    } catch (e) {
      this.log(`overfit check failed: ${String(e)}`);
      void vscode.window.showErrorMessage(`torchlint: the overfit check failed: ${e instanceof Error ? e.message : String(e)}`, OUTPUT_ACTION).then((x) => {
        if (x === OUTPUT_ACTION) this.output.show(true);
      });
      return null;
    } finally {
      this.running = undefined;
      void vscode.commands.executeCommand('setContext', 'torchlint.overfitRunning', false);
    }
  }

  private waitForResult(uri: string, since: number, timeoutMs: number): Promise<OverfitReport | undefined> {
    const last = this.lastResults.get(uri);
    if (last && last.at >= since) return Promise.resolve(last.report);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resultWaiters.delete(uri);
        resolve(undefined);
      }, timeoutMs);
      this.resultWaiters.set(uri, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  async cancelOverfit(): Promise<void> {
    const running = this.running;
    if (!running) {
      void vscode.window.showInformationMessage('torchlint: no overfit check is running.');
      return;
    }
    if (running.cancelled) return;
    this.log(`cancelling the overfit check on ${running.uri}`);
    running.cancelled = true;
    const waiter = this.resultWaiters.get(running.uri);
    if (waiter) {
      // Already waiting for a notification after the command returned: stop waiting soon.
      setTimeout(() => {
        if (this.resultWaiters.get(running.uri) === waiter) {
          this.resultWaiters.delete(running.uri);
          waiter(undefined);
        }
      }, 5000);
    }
    try {
      await this.client?.sendRequest(ExecuteCommandRequest.type, { command: CANCEL_COMMAND, arguments: [{ uri: running.uri }] });
    } catch (e) {
      this.log(`cancel failed: ${String(e)}`);
    }
  }

  onTrustGranted(): void {
    this.status.render();
    // A workspace value of torchlint.interpreter applies now, and the server may show its code lens.
    void this.restart();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
    this.status.dispose();
    this.output.dispose();
  }
}

let controller: Controller | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  try {
    const dir = context.globalStorageUri.fsPath;
    fs.mkdirSync(dir, { recursive: true });
    safeCwd = dir;
  } catch {
    safeCwd = os.tmpdir();
  }
  const ctl = new Controller(context);
  controller = ctl;
  context.subscriptions.push(
    ctl,
    vscode.commands.registerCommand('torchlint.runOverfitCheckCurrentFile', async (resource?: vscode.Uri) => {
      const editor = vscode.window.activeTextEditor;
      const uri = resource instanceof vscode.Uri ? resource : editor?.document.uri;
      if (!uri || (editor && !resource && editor.document.languageId !== 'python')) {
        void vscode.window.showWarningMessage('torchlint: open a Python training script to run the overfit check.');
        return;
      }
      return ctl.runOverfit({ uri: uri.toString(), line: null });
    }),
    vscode.commands.registerCommand('torchlint.cancelOverfitCheckCommand', () => ctl.cancelOverfit()),
    vscode.commands.registerCommand('torchlint.restartServer', () => ctl.restart()),
    vscode.commands.registerCommand('torchlint.showOutput', () => ctl.output.show(true)),
    vscode.workspace.onDidChangeConfiguration((e) => ctl.onConfigurationChanged(e)),
    vscode.workspace.onDidGrantWorkspaceTrust(() => ctl.onTrustGranted()),
  );
  await ctl.init();
  await ctl.start();
}

export async function deactivate(): Promise<void> {
  if (controller) {
    await controller.stop();
    controller = undefined;
  }
}
