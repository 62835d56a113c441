// Messages from the result panel's script to the extension.
import * as path from 'path';

export type WebviewMessage =
  | { type: 'open'; filename: string; row: number | null }
  | { type: 'rerun' }
  | { type: 'ready' };

/** Validates an untrusted message from the webview; undefined when it is not one of ours. */
export function parseWebviewMessage(msg: unknown): WebviewMessage | undefined {
  if (!msg || typeof msg !== 'object') return undefined;
  const m = msg as Record<string, unknown>;
  if (m.type === 'open' && typeof m.filename === 'string' && m.filename.length > 0) {
    const row = typeof m.row === 'number' && Number.isFinite(m.row) ? Math.max(1, Math.floor(m.row)) : null;
    return { type: 'open', filename: m.filename, row };
  }
  if (m.type === 'rerun' || m.type === 'ready') return { type: m.type };
  return undefined;
}

/**
 * Resolves a finding's filename to an absolute path: absolute paths and file:// URIs as they are,
 * relative ones against the checked script's folder, then the first workspace folder.
 */
export function resolveFindingPath(
  filename: string,
  reportFsPath: string | undefined,
  workspaceFolders: string[],
  exists: (p: string) => boolean,
): string {
  if (filename.startsWith('file://')) {
    return decodeURIComponent(filename.replace(/^file:\/\//, '')).replace(/^\/([A-Za-z]:)/, '$1');
  }
  if (path.isAbsolute(filename)) return filename;
  const candidates: string[] = [];
  if (reportFsPath) candidates.push(path.join(path.dirname(reportFsPath), filename));
  for (const f of workspaceFolders) candidates.push(path.join(f, filename));
  return candidates.find(exists) ?? candidates[0] ?? filename;
}

export interface MessageHandlerDeps {
  reportFsPath: string | undefined;
  workspaceFolders: string[];
  exists: (p: string) => boolean;
  /** Opens `file` with the cursor on 0-based `line`. */
  openLocation: (file: string, line: number) => Promise<unknown>;
  rerun: () => Promise<unknown>;
}

/** Handles one message; returns what it did (for tests and logs). */
export async function handleWebviewMessage(msg: unknown, deps: MessageHandlerDeps): Promise<string> {
  const m = parseWebviewMessage(msg);
  if (!m) return 'ignored';
  switch (m.type) {
    case 'open': {
      const file = resolveFindingPath(m.filename, deps.reportFsPath, deps.workspaceFolders, deps.exists);
      const line = m.row === null ? 0 : m.row - 1; // findings carry 1-based rows
      await deps.openLocation(file, line);
      return `open ${file}:${line}`;
    }
    case 'rerun':
      await deps.rerun();
      return 'rerun';
    default:
      return 'ready';
  }
}
