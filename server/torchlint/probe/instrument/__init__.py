"""Child side of the overfit check: runs the user's script with one repeated batch.

This package runs inside the *user's* interpreter, in a subprocess started by
``torchlint.probe.runner``. It must import only the standard library and torch, because
torchlint itself may not be installed there. The runner loads this directory by path as a
package under the private name ``_torchlint_probe_instrument`` (``runner.BOOTSTRAP``): its
modules import each other relatively, so they resolve to the files next to this one and
never to the ``torchlint`` package or to a module of the user's with the same name (a
``checks.py`` next to the script), and the hooks live in importable modules, never in
``__main__`` (torch.compile fails on hooks defined in ``__main__``).

What it patches (all verified on torch 2.13 CPU, see docs/overfit.md), in ``patches``:

* ``DataLoader.__iter__`` (on the class): the first batch of each loader is cached and the
  loader yields clones of it ``len(loader)`` times, so every step sees the same batch;
  batches made by hand are recorded and replayed by global module pre/post hooks (``freeze``).
* global optimizer step pre/post hooks: count steps, check gradients, and raise the private
  ``StopProbe`` (a ``BaseException``, so ``except Exception`` in the script cannot swallow
  it) after the requested number of steps (``steps``).
* ``torch.autograd.backward`` (``Tensor.backward`` goes through it): the loss of the step.
  The tensor given to backward may be scaled (GradScaler) or divided (gradient accumulation),
  so the recorded value is the one the loss *function* returned: loss modules (``_Loss``
  subclasses, via a wrapped ``_Loss.__call__``) and ``torch.nn.functional`` losses are recorded,
  and at backward the recorded outputs that the backward tensor's autograd graph reaches are
  summed. A hand-written loss (no loss function) falls back to the backward tensor itself,
  with GradScaler's factor removed.
* a global module forward hook, installed only for sampled iterations (1-3, every 25th, the
  last; permanently once torch.compile is called, because dynamo guards on global hooks):
  train/eval mode of Dropout/BatchNorm, dead ReLUs, the order of layers (first/last layer
  for gradient ratios) (``checks``).
* ``nn.Module.__init__`` and ``Optimizer.__init__``: where each module and optimizer was
  built in the user's files, so findings point at source lines (``sites``).

Messages go to the parent as JSON lines on the file descriptor named by
``TORCHLINT_PROBE_FD`` (never the script's stdout): ``channel``. What the probe knows is in
small objects (``state``) composed into one ``Probe`` (``probe``).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import traceback
from types import FrameType
from typing import Any

import torch

from . import checks, patches
from .channel import Channel
from .probe import Probe
from .sites import Sites
from .state import StopProbe


class _Terminated(BaseException):
    """Raised by the SIGTERM handler (the parent's timeout or cancel): report what is known
    (findings at the end of the run, the frozen batch) before the parent's SIGKILL."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second TERM ends the process
    raise _Terminated()


def _peak_memory(device: str) -> int | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        try:
            return int(torch.cuda.max_memory_allocated())
        except Exception:
            pass
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)
    except Exception:
        return None


def _error_info(exc: BaseException, sites: Sites) -> dict[str, Any]:
    site = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if sites.is_user_file(frame.f_code.co_filename):
            site = (os.path.abspath(frame.f_code.co_filename), lineno)
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "filename": site[0] if site else None,
        "row": site[1] if site else None,
        "traceback": "".join(tb)[-8000:],
    }


def _send_end(probe: Probe, reason: str, error: dict[str, Any] | None = None, exit_code: Any = None) -> None:
    try:
        checks.finalize(probe)
    except Exception as exc:
        probe.channel.warn(f"probe finalize: {exc!r}")
    run, loss, opts = probe.run, probe.loss, probe.optimizers
    probe.channel.send(
        {
            "type": "end",
            "reason": reason,
            "error": error,
            "exit_code": exit_code,
            "steps": run.step,
            "device": run.device,
            "peak_memory_bytes": _peak_memory(run.device),
            "dataloader_seen": probe.data.dataloader_seen,
            "loader_len": probe.data.loader_len,
            "backward_seen": loss.backward_seen,
            "optimizer_seen": opts.primary is not None,
            "backward_site": list(loss.backward_site) if loss.backward_site else None,
            "first_loss_sources": loss.first_sources,
            "class_loss": loss.class_loss,
            "step_times": run.step_times,
            "torch": torch.__version__,
            "optimizers": [
                {
                    "index": o.index,
                    "name": o.name,
                    "steps": o.steps,
                    "reaches": sorted(o.reaches),
                    "base_lr": o.base_lr,
                    "site": list(opts.sites.get(oid) or ()) or None,
                }
                for oid, o in opts.facts.items()
            ],
            "frozen_batch": probe.replay.describe(),
        }
    )


def main(argv: list[str]) -> None:
    """argv: [script, *script_args]. Never returns: exits the process with os._exit."""
    fd_text = os.environ.pop("TORCHLINT_PROBE_FD", None)
    fd = int(fd_text) if fd_text else None
    if fd is not None:
        os.set_inheritable(fd, False)  # exec'd children must not hold the channel open
    channel = Channel(fd)
    target = int(os.environ.pop("TORCHLINT_PROBE_STEPS", "100"))
    script = argv[0]
    probe = Probe(channel, target, script)
    channel.send({"type": "hello", "pid": os.getpid(), "torch": torch.__version__})
    patches.install(probe)

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass
    sys.argv = [script, *argv[1:]]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script.py` would
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
        _send_end(probe, "finished")
    except StopProbe:
        _send_end(probe, "steps_done")
    except _Terminated:
        probe.run.terminated = True
        _send_end(probe, "terminated")
    except SystemExit as exc:
        exit_code = exc.code
        info = _error_info(exc, probe.sites) if probe.run.step == 0 else None
        _send_end(probe, "exit", info, exit_code if isinstance(exit_code, (int, type(None))) else str(exit_code))
    except KeyboardInterrupt as exc:
        _send_end(probe, "interrupted", _error_info(exc, probe.sites))
        code = 130
    except BaseException as exc:
        _send_end(probe, "exception", _error_info(exc, probe.sites))
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
    # Skip interpreter shutdown: user atexit handlers, non-daemon threads and DataLoader
    # workers must not keep the probe alive; the parent kills the process group anyway.
    os._exit(code)
