// vscode-languageclient middleware: settings answers, the overfit command routed through our UI
// (progress, cancel, panel, trust gate), and the overfit code lens hidden in Restricted Mode.
import type { Middleware } from 'vscode-languageclient/node';
import { ServerPayload, answerConfiguration } from './settings';
import { OVERFIT_COMMAND, filterCodeLenses } from './trust';

export interface MiddlewareDeps {
  isTrusted: () => boolean;
  /** The `torchlint` section for a scope URI (string form, as in ConfigurationItem). */
  payload: (scopeUri: string | undefined) => ServerPayload;
  /** Runs the overfit check with our UI; `arg` is the command's first argument. */
  runOverfit: (arg: unknown) => Promise<unknown>;
}

export function createMiddleware(deps: MiddlewareDeps): Middleware {
  return {
    workspace: {
      configuration: async (params, token, next) => {
        const fallback = await next(params, token);
        return answerConfiguration(params.items, deps.payload, Array.isArray(fallback) ? fallback : []);
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
