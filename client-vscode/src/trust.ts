// Workspace trust: diagnostics work everywhere, the overfit check (which executes the user's
// training script) only in trusted workspaces.

export const OVERFIT_COMMAND = 'torchlint.runOverfitCheck';
export const CANCEL_COMMAND = 'torchlint.cancelOverfitCheck';

export const UNTRUSTED_OVERFIT_MESSAGE =
  'torchlint: the overfit check runs your training script, so it is disabled in Restricted Mode. ' +
  'Trust this workspace to enable it; diagnostics and quick fixes keep working.';

export const MANAGE_TRUST_ACTION = 'Manage Workspace Trust';
export const MANAGE_TRUST_COMMAND = 'workbench.trust.manage';

export interface TrustGate {
  allowed: boolean;
  message?: string;
}

export function overfitGate(workspace: { isTrusted: boolean }): TrustGate {
  return workspace.isTrusted ? { allowed: true } : { allowed: false, message: UNTRUSTED_OVERFIT_MESSAGE };
}

/** True for commands that execute user code and must not run in Restricted Mode. */
export function isGatedCommand(command: string): boolean {
  return command === OVERFIT_COMMAND;
}

/** Drops the "Run overfit check" code lenses from the server in an untrusted workspace. */
export function filterCodeLenses<T extends { command?: { command: string } }>(
  lenses: T[] | null | undefined,
  trusted: boolean,
): T[] | null | undefined {
  if (trusted || !lenses) return lenses;
  return lenses.filter((l) => !l.command || !isGatedCommand(l.command.command));
}
