// A recording stub of the parts of the `vscode` API the extension modules use.
'use strict';
const path = require('path');

class Uri {
  constructor(scheme, fsPath) {
    this.scheme = scheme;
    this.fsPath = fsPath;
    this.path = fsPath;
  }
  static file(p) {
    return new Uri('file', p);
  }
  static parse(s) {
    return new Uri('file', decodeURIComponent(s.replace(/^file:\/\//, '')));
  }
  static joinPath(base, ...parts) {
    return new Uri(base.scheme, path.join(base.fsPath, ...parts));
  }
  toString() {
    return `file://${this.fsPath}`;
  }
}

class Position {
  constructor(line, character) {
    this.line = line;
    this.character = character;
  }
}
class Range {
  constructor(start, end) {
    this.start = start;
    this.end = end;
  }
}
class ThemeColor {
  constructor(id) {
    this.id = id;
  }
}

function emitter() {
  const listeners = [];
  const event = (l) => {
    listeners.push(l);
    return { dispose() {} };
  };
  event.fire = (v) => Promise.all(listeners.map((l) => l(v)));
  return event;
}

const calls = [];
const state = {
  panels: [],
  statusItems: [],
  documents: new Map(),
};

const api = {
  __calls: calls,
  __state: state,
  __reset() {
    calls.length = 0;
    state.panels.length = 0;
    state.statusItems.length = 0;
    api.workspace.isTrusted = true;
    api.workspace.workspaceFolders = [];
  },
  Uri,
  Position,
  Range,
  ThemeColor,
  ViewColumn: { One: 1, Two: 2, Beside: -2 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { Notification: 15 },
  LanguageStatusSeverity: { Information: 0, Warning: 1, Error: 2 },
  languages: {
    createLanguageStatusItem(id, selector) {
      const item = { id, selector, text: '', detail: '', busy: false, severity: 0, dispose() {} };
      state.statusItems.push(item);
      return item;
    },
  },
  window: {
    createStatusBarItem(id, alignment, priority) {
      const item = { id, alignment, priority, text: '', tooltip: '', shown: false, show() { this.shown = true; }, dispose() {} };
      state.statusItems.push(item);
      return item;
    },
    createWebviewPanel(viewType, title, showOptions, options) {
      const onMessage = emitter();
      const onDispose = emitter();
      const panel = {
        viewType,
        title,
        showOptions,
        options,
        revealed: 0,
        webview: {
          html: '',
          cspSource: 'vscode-webview://stub',
          asWebviewUri: (u) => ({ toString: () => `vscode-webview://stub${u.fsPath}` }),
          onDidReceiveMessage: onMessage,
          postMessage: async () => true,
        },
        onDidDispose: onDispose,
        reveal() {
          this.revealed++;
        },
        dispose() {
          onDispose.fire();
        },
        __message: (m) => onMessage.fire(m),
      };
      state.panels.push(panel);
      return panel;
    },
    async showTextDocument(doc, options) {
      calls.push(['showTextDocument', doc.uri.fsPath, options.selection.start.line, options.viewColumn]);
      return {};
    },
    async showErrorMessage(msg, ...items) {
      calls.push(['showErrorMessage', msg, ...items]);
      return undefined;
    },
    async showWarningMessage(msg, ...items) {
      calls.push(['showWarningMessage', msg, ...items]);
      return undefined;
    },
    async showInformationMessage(msg, ...items) {
      calls.push(['showInformationMessage', msg, ...items]);
      return undefined;
    },
  },
  workspace: {
    isTrusted: true,
    workspaceFolders: [],
    async openTextDocument(uri) {
      calls.push(['openTextDocument', uri.fsPath]);
      return { uri, lineCount: state.documents.get(uri.fsPath) ?? 1000 };
    },
  },
  commands: {
    async executeCommand(...args) {
      calls.push(['executeCommand', ...args]);
    },
  },
};

module.exports = api;
