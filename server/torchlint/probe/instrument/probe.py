"""One run's instrumentation: the channel to the parent and every piece of state, composed."""

from __future__ import annotations

from .channel import Channel, Findings
from .freeze import Replay
from .sites import Sites
from .state import DataSeen, Gradients, Layers, LossTrace, Optimizers, Run, SampledForwardHook


class Probe:
    """What the patches, the step bookkeeping and the checks share. One per process, built by
    `main` before the script runs; the patches' wrappers hold it in their closures."""

    def __init__(self, channel: Channel, target: int, script: str) -> None:
        self.channel = channel
        self.run = Run(target)
        self.findings = Findings(channel, self.run)
        self.sites = Sites(script)
        self.loss = LossTrace()
        self.optimizers = Optimizers()
        self.data = DataSeen()
        self.layers = Layers()
        self.grads = Gradients()
        self.replay = Replay(self.data)
        self.forward_hook = SampledForwardHook()
