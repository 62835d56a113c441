"""The overfit check: run a training script on one repeated batch and judge the loss curve.

``runner`` (parent, no torch) starts ``instrument`` (child, stdlib + torch only) in the user's
interpreter; ``verdict`` judges the curve; ``report`` renders it; ``cli`` is
``torchlint overfit``. See docs/overfit.md.
"""
