// vscode-languageclient middleware: settings answers, the overfit command routed through our UI
// (progress, cancel, panel, trust gate), and the overfit code lens hidden in Restricted Mode.
import type { Middleware } from 'vscode-languageclient/node';
import { ServerPayload, answerConfiguration } from './settings';
import { OVERFIT_COMMAND, filterCodeLenses } from './trust';

export interface MiddlewareDeps {
  isTrusted: () => boolean;
  /** The `torchlint` section for a scope URI (string form, as in ConfigurationItem): each
   * workspace folder has its own (the server asks with one item per folder). */
  payload: (scopeUri: string | undefined) => ServerPayload | Promise<ServerPayload>;
  /** Runs the overfit check with our UI; `arg` is the command's first argument. */
  runOverfit: (arg: unknown) => Promise<unknown>;
}

export function createMiddleware(deps: MiddlewareDeps): Middleware {
  return {
    workspace: {
      configuration: async (params, token, next) => {
        const fallback = await next(params, token);
        // one answer per scope (a folder's may need the Python extension, which answers async)
        const scopes = [...new Set(params.items.filter((i) => (i.section ?? '').split('.')[0] === 'torchlint').map((i) => i.scopeUri))];
        const payloads = new Map(await Promise.all(scopes.map(async (scope) => [scope, await deps.payload(scope)] as const)));
        return answerConfiguration(params.items, (scope) => payloads.get(scope) ?? {}, Array.isArray(fallback) ? fallback : []);
      },
    },
    // The server's code lens and the auto-registered `torchlint.runOverfitCheck` command land here.
    executeCommand: async (command, args, next) => {
      if (command === OVERFIT_COMMAND) return deps.runOverfit(args?.[0]);
      return next(command, args);
    },
    provideCodeLenses: async (document, token, next) => filterCodeLenses(await next(document, token), deps.isTrusted()),
  };
}
