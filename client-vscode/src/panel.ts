// The overfit result webview panel (one, reused).
import * as fs from 'fs';
import * as crypto from 'crypto';
import type * as vscode from 'vscode';
import { OverfitReport } from './report';
import { renderPanelHtml } from './panelHtml';
import { handleWebviewMessage } from './webviewMessages';

export const PANEL_VIEW_TYPE = 'torchlint.overfitResult';

/** Line `row` (1-based) of a file on disk, or undefined. */
export function readLine(file: string, row: number | null): string | undefined {
  if (row === null || row < 1) return undefined;
  try {
    return fs.readFileSync(file, 'utf8').split(/\r\n|\r|\n/)[row - 1];
  } catch {
    return undefined;
  }
}

export class ResultPanel {
  private panel: vscode.WebviewPanel | undefined;
  private report: OverfitReport | undefined;

  constructor(
    private readonly api: typeof vscode,
    private readonly extensionUri: vscode.Uri,
    private readonly log: (msg: string) => void,
    private readonly rerun: (uri: string) => Promise<unknown>,
  ) {}

  show(report: OverfitReport): void {
    this.report = report;
    const api = this.api;
    if (!this.panel) {
      this.panel = api.window.createWebviewPanel(
        PANEL_VIEW_TYPE,
        'torchlint: Overfit Check',
        { viewColumn: api.ViewColumn.Beside, preserveFocus: true },
        {
          enableScripts: true,
          retainContextWhenHidden: false,
          localResourceRoots: [api.Uri.joinPath(this.extensionUri, 'media')],
        },
      );
      this.panel.onDidDispose(() => (this.panel = undefined));
      this.panel.webview.onDidReceiveMessage((msg) => this.onMessage(msg));
    }
    const webview = this.panel.webview;
    const name = report.uri ? report.uri.split('/').pop() : undefined;
    this.panel.title = `torchlint: Overfit ${report.verdict}${name ? ` (${decodeURIComponent(name)})` : ''}`;
    webview.html = renderPanelHtml(report, {
      cspSource: webview.cspSource,
      nonce: crypto.randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, ''),
      scriptUri: webview.asWebviewUri(api.Uri.joinPath(this.extensionUri, 'media', 'panel.js')).toString(),
      trusted: api.workspace.isTrusted,
      errorLine: report.error_location ? readLine(report.error_location.filename, report.error_location.row) : undefined,
    });
    this.panel.reveal(api.ViewColumn.Beside, true);
  }

  private async onMessage(msg: unknown): Promise<void> {
    const api = this.api;
    const report = this.report;
    try {
      const done = await handleWebviewMessage(msg, {
        reportFsPath: report?.uri ? api.Uri.parse(report.uri).fsPath : undefined,
        workspaceFolders: (api.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
        exists: (p) => fs.existsSync(p),
        openLocation: async (file, line) => {
          const doc = await api.workspace.openTextDocument(api.Uri.file(file));
          const pos = new api.Position(Math.min(line, Math.max(doc.lineCount - 1, 0)), 0);
          await api.window.showTextDocument(doc, {
            viewColumn: api.ViewColumn.One,
            selection: new api.Range(pos, pos),
          });
        },
        rerun: async () => (report?.uri ? this.rerun(report.uri) : undefined),
      });
      if (done !== 'ready') this.log(`panel: ${done}`);
    } catch (e) {
      this.log(`panel: ${String(e)}`);
      void api.window.showErrorMessage(`torchlint: ${String(e)}`);
    }
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
