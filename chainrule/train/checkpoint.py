"""Crash-safe checkpoints and exact resume.

A checkpoint holds everything the training loop's future depends on: the
weights, the optimizer's state (momentum buffers, Adam's moments and step
counts), the scheduler's state, chainrule's random generator (dropout), the
loader's position (epoch, batch within the epoch; its shuffling is a pure
function of seed and epoch), the partial sums of the running epoch, the
history and the callbacks' state. Resuming from it replays the remaining steps
exactly, so a run killed at any moment and resumed ends with the same weights,
bit for bit, as one that never stopped.

Each checkpoint is one safetensors file written atomically (temporary file,
fsync, rename): a crash leaves either the previous file or the new one, never
half of one. The last ``keep`` are kept.
"""

from __future__ import annotations

import os
import re
import sys

from ..errors import ChainruleError, ModelFileError
from ..io import tensorfile

FORMAT = "chainrule-checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{10})\.safetensors$")
_REQUIRED = {"model", "optimizer", "rng", "loader", "epoch", "step", "acc", "history",
             "callbacks", "convergence"}


def save_checkpoint(path, state):
    """Write a trainer state (``Trainer.state_dict()``) to ``path`` atomically."""
    arrays = {}
    tree = tensorfile.flatten(state, "state", arrays)
    tensorfile.write(path, arrays, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                     "state": tree})


def load_checkpoint(path):
    """Read and validate a checkpoint; returns the trainer state.

    Raises :class:`~chainrule.errors.ModelFileError` for a file that is not a
    complete, intact chainrule checkpoint (truncated, corrupted, another format).
    """
    path = os.fspath(path)
    arrays, meta = tensorfile.read(path, expect_format=FORMAT)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: unknown checkpoint format version "
                             f"{str(meta.get('format_version'))[:20]}")
    used = set()
    state = tensorfile.unflatten(meta.get("state"), arrays, path, used)
    if not isinstance(state, dict) or not _REQUIRED <= set(state):
        raise ModelFileError(f"{path}: not a complete training checkpoint")
    if set(arrays) - used:
        raise ModelFileError(f"{path}: unexpected tensors {sorted(set(arrays) - used)[:5]}")
    return state


def list_checkpoints(directory):
    """Checkpoint paths in ``directory``, newest (highest step) first."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    names = [n for n in os.listdir(directory) if _NAME.match(n)]
    return [os.path.join(directory, n) for n in sorted(names, reverse=True)]


def _step_of(path):
    return int(_NAME.match(os.path.basename(path)).group(1))


def latest_checkpoint(directory, warn=True):
    """The newest readable checkpoint in ``directory``, skipping damaged ones with a warning.

    Returns
    -------
    (path, state) or (None, None)
        ``state`` is what :meth:`Trainer.fit` takes as ``resume=``.
    """
    for path in list_checkpoints(directory):
        try:
            return path, load_checkpoint(path)
        except ModelFileError as e:
            if warn:
                print(f"warning: skipping damaged checkpoint: {e}", file=sys.stderr)
    return None, None


class CheckpointManager:
    """Writes checkpoints during :meth:`Trainer.fit`.

    Parameters
    ----------
    directory : str or PathLike
        Where ``ckpt-<step>.safetensors`` files go (created if needed).
    every_steps : int, optional
        Also write one every this many optimizer steps.
    every_epoch : bool, default True
        Write one at the end of each epoch.
    keep : int, default 3
        How many of the newest checkpoints to keep.
    resume_command : str, optional
        The command that resumes this run, shown when Ctrl-C stops training.
    on_error : {'warn', 'raise'}, default 'warn'
        What a checkpoint that cannot be written (disk full, read-only
        directory) does. ``'warn'`` prints a warning naming the error and the
        newest checkpoint still on disk, counts it in ``failures`` and lets
        training go on: the weights in memory are fine, the previous
        checkpoint is intact (writes are atomic) and the final model may still
        be saved once space is freed. ``'raise'`` stops training with the
        ``OSError``. The checkpoint written on Ctrl-C always reports its failure
        in the interruption message.

    Notes
    -----
    Checkpoints with a higher step than the one being written belong to an
    abandoned continuation (a damaged newest checkpoint that was skipped on
    resume, or a resume from an older one); they are removed, so that the
    directory only holds the current run's history.
    """

    def __init__(self, directory, every_steps=None, every_epoch=True, keep=3,
                 resume_command=None, on_error="warn"):
        if every_steps is not None and (isinstance(every_steps, bool) or every_steps < 1):
            raise ValueError(f"CheckpointManager: every_steps must be >= 1, got {every_steps}")
        if keep < 1:
            raise ValueError(f"CheckpointManager: keep must be >= 1, got {keep}")
        if on_error not in ("warn", "raise"):
            raise ValueError(f"CheckpointManager: on_error must be 'warn' or 'raise', got "
                             f"{on_error!r}")
        self.directory = os.fspath(directory)
        self.every_steps = every_steps
        self.every_epoch = every_epoch
        self.keep = keep
        self.resume_command = resume_command
        self.on_error = on_error
        self.failures = 0
        self.last_path = None

    def path_for(self, step):
        """The checkpoint file name for optimizer step ``step``."""
        return os.path.join(self.directory, f"ckpt-{step:010d}.safetensors")

    def save(self, trainer):
        """Write a checkpoint now; returns its path. Raises OSError if it cannot be written
        (the checkpoints already on disk are then untouched)."""
        os.makedirs(self.directory, exist_ok=True)
        path = self.path_for(trainer.step)
        save_checkpoint(path, trainer.state_dict())
        self.last_path = path
        self._prune(trainer.step, path)
        return path

    def _prune(self, step, current):
        older = []
        for old in list_checkpoints(self.directory):
            if old == current:
                continue
            if _step_of(old) > step:  # an abandoned continuation (see Notes)
                self._remove(old)
            else:
                older.append(old)
        for old in older[self.keep - 1:]:
            self._remove(old)
        for name in os.listdir(self.directory):  # left by a process killed while writing
            if name.startswith(".ckpt-") and name.endswith(".tmp"):
                self._remove(os.path.join(self.directory, name))

    @staticmethod
    def _remove(path):
        try:
            os.remove(path)
        except OSError:
            pass

    def _try_save(self, trainer):
        try:
            self.save(trainer)
        except OSError as e:
            self.failures += 1
            if self.on_error == "raise":
                raise
            print(f"warning: could not write a checkpoint at step {trainer.step} in "
                  f"{self.directory}: {e.strerror or e}; {self._kept()}; training goes on",
                  file=sys.stderr)

    def _kept(self):
        newest = list_checkpoints(self.directory)
        return (f"the newest checkpoint on disk is {newest[0]}" if newest
                else "no checkpoint is on disk yet")

    def after_step(self, trainer):
        """Called by the trainer after each step: checkpoint every ``every_steps`` steps."""
        if self.every_steps and trainer.step % self.every_steps == 0:
            self._try_save(trainer)

    def after_epoch(self, trainer):
        """Called by the trainer after each epoch: checkpoint when ``every_epoch`` is set."""
        if self.every_epoch:
            self._try_save(trainer)

    def save_on_interrupt(self, trainer):
        """The checkpoint written on Ctrl-C; returns a sentence saying what happened."""
        try:
            path = self.save(trainer)
        except OSError as e:
            self.failures += 1
            return (f"could not write a checkpoint ({e.strerror or e}); "
                    f"{self._kept()}")
        return f"checkpoint written to {path}"

    def resume_hint(self):
        """The command (or call) that resumes this run, for messages."""
        return self.resume_command or f"fit(..., resume={self.directory!r})"


def resume_state(resume, manager=None):
    """The state ``Trainer.fit(resume=...)`` designates (see there), or None.

    ``manager`` is the Trainer's CheckpointManager (``resume=True`` reads its directory).
    """
    if resume is None or resume is False:
        return None
    if resume is True:
        if manager is None:
            raise ValueError("fit: resume=True needs checkpoint=CheckpointManager(...)")
        return latest_checkpoint(manager.directory)[1]
    if isinstance(resume, dict):
        return resume
    if isinstance(resume, (str, os.PathLike)):
        if os.path.isdir(resume):
            path, state = latest_checkpoint(resume)
            if state is None:
                raise ChainruleError(f"{os.fspath(resume)}: no valid checkpoint to resume "
                                     f"from")
            return state
        return load_checkpoint(resume)
    raise TypeError(f"fit: resume must be a state dict, a checkpoint file or directory, "
                    f"True or None, got {type(resume).__name__}")
