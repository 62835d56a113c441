// The server's state as a language status item (the `{}` next to "Python" in the status bar, as
// Pylance and ruff do): shown for Python files only, busy while the server starts, an error
// when it cannot run. The overfit check's progress is in its own notification, not here.
import type * as vscode from 'vscode';

export type State = 'stopped' | 'starting' | 'ready' | 'error';

export interface StatusView {
  text: string;
  detail: string;
  error: boolean;
  busy: boolean;
}

export function statusView(state: State, detail?: string, trusted = true): StatusView {
  const restricted = trusted ? '' : ' (Restricted Mode: overfit check disabled)';
  switch (state) {
    case 'starting':
      return { text: 'torchlint', detail: `starting${detail ? ` (${detail})` : ''}`, error: false, busy: true };
    case 'ready':
      return { text: trusted ? 'torchlint' : '$(shield) torchlint', detail: `ready${detail ? ` (${detail})` : ''}${restricted}`, error: false, busy: false };
    case 'error':
      return { text: '$(error) torchlint', detail: detail ?? 'the server is not running', error: true, busy: false };
    default:
      return { text: 'torchlint', detail: 'stopped', error: false, busy: false };
  }
}

export class StatusBar {
  private item: vscode.LanguageStatusItem;
  state: State = 'stopped';
  private detail: string | undefined;

  constructor(
    private readonly api: typeof vscode,
    private trusted: () => boolean,
  ) {
    this.item = api.languages.createLanguageStatusItem('torchlint.status', { language: 'python' });
    this.item.name = 'torchlint';
    this.item.command = { title: 'Show Output', command: 'torchlint.showOutput' };
    this.render();
  }

  set(state: State, detail?: string): void {
    this.state = state;
    this.detail = detail;
    this.render();
  }

  render(): void {
    const v = statusView(this.state, this.detail, this.trusted());
    this.item.text = v.text;
    this.item.detail = v.detail;
    this.item.busy = v.busy;
    this.item.severity = v.error ? this.api.LanguageStatusSeverity.Error : this.api.LanguageStatusSeverity.Information;
  }

  dispose(): void {
    this.item.dispose();
  }
}
