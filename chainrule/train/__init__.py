"""Training: the fit loop, callbacks, metrics, history, heads and checkpoints."""

from .callbacks import Callback, EarlyStopping, LambdaCallback, MetricLogger
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
from .loop import SchedulerCallback, Trainer, TrainingDiverged, TrainingInterrupted, fit
from .metrics import compute_metrics

__all__ = [
    "fit", "Trainer", "History", "Callback", "EarlyStopping", "MetricLogger", "LambdaCallback",
    "SchedulerCallback", "TrainingDiverged", "TrainingInterrupted", "compute_metrics",
    "make_head", "head_from_config", "SoftmaxHead", "OneVsAllHead", "BinaryHead",
    "RegressionHead", "CheckpointManager", "latest_checkpoint", "load_checkpoint",
    "save_checkpoint",
]
