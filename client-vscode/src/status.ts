// Status-bar item: starting, ready, error, overfit running, restricted.
import type * as vscode from 'vscode';

export type State = 'stopped' | 'starting' | 'ready' | 'error' | 'overfit';

export interface StatusView {
  text: string;
  tooltip: string;
  error: boolean;
}

export function statusView(state: State, detail?: string, trusted = true): StatusView {
  const restricted = trusted ? '' : ' (Restricted Mode: overfit check disabled)';
  switch (state) {
    case 'starting':
      return { text: '$(loading~spin) torchlint', tooltip: `torchlint: starting the server${detail ? ` (${detail})` : ''}`, error: false };
    case 'ready':
      return { text: trusted ? '$(check) torchlint' : '$(shield) torchlint', tooltip: `torchlint: ready${detail ? ` (${detail})` : ''}${restricted}`, error: false };
    case 'error':
      return { text: '$(error) torchlint', tooltip: `torchlint: ${detail ?? 'the server is not running'}. Click for the log.`, error: true };
    case 'overfit':
      return { text: '$(beaker~spin) torchlint: overfit', tooltip: `torchlint: overfit check running${detail ? ` on ${detail}` : ''}. Click for the log.`, error: false };
    default:
      return { text: '$(circle-slash) torchlint', tooltip: 'torchlint: stopped', error: false };
  }
}

export class StatusBar {
  private item: vscode.StatusBarItem;
  state: State = 'stopped';
  private detail: string | undefined;
  private base: { state: State; detail?: string } = { state: 'stopped' };

  constructor(
    private readonly api: typeof vscode,
    private trusted: () => boolean,
  ) {
    this.item = api.window.createStatusBarItem('torchlint.status', api.StatusBarAlignment.Right, 100);
    this.item.name = 'torchlint';
    this.item.command = 'torchlint.showOutput';
    this.render();
    this.item.show();
  }

  set(state: State, detail?: string): void {
    if (state !== 'overfit') this.base = { state, detail };
    this.state = state;
    this.detail = detail;
    this.render();
  }

  /** Back to the server state after an overfit run. */
  overfitDone(): void {
    this.state = this.base.state;
    this.detail = this.base.detail;
    this.render();
  }

  render(): void {
    const v = statusView(this.state, this.detail, this.trusted());
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.backgroundColor = v.error ? new this.api.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
