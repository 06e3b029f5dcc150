"""Training: the one loop (Trainer/fit), evaluation, run recipes, callbacks, metrics, heads,
checkpoints."""

from .callbacks import (
    AdaptiveLR,
    Callback,
    EarlyStopping,
    InverseScalingLR,
    L2Penalty,
    LambdaCallback,
    MetricLogger,
    SchedulerCallback,
)
from .checkpoint import CheckpointManager, latest_checkpoint, load_checkpoint, save_checkpoint
from .heads import (
    BinaryHead,
    OneVsAllHead,
    RegressionHead,
    SoftmaxHead,
    head_from_config,
    make_head,
)
from .history import History
from .loop import Trainer, TrainingDiverged, TrainingInterrupted, fit
from .metrics import compute_metrics
from .recipe import Recipe

__all__ = [
    "fit", "Trainer", "History", "Callback", "EarlyStopping", "MetricLogger", "LambdaCallback",
    "L2Penalty", "InverseScalingLR", "AdaptiveLR",
    "SchedulerCallback", "TrainingDiverged", "TrainingInterrupted", "compute_metrics",
    "make_head", "head_from_config", "SoftmaxHead", "OneVsAllHead", "BinaryHead",
    "RegressionHead", "CheckpointManager", "latest_checkpoint", "load_checkpoint",
    "save_checkpoint", "Recipe",
]
