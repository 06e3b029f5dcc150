"""Step capture: one training step replayed as fixed array calls into preallocated buffers.

``step = cr.compile(model, loss_fn, optimizer)`` returns a callable; ``step(x, y)``
does what ::

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()

does and returns the loss as a float. For the models it knows (a ``Sequential`` of
``Linear`` layers, each optionally followed by ``ReLU`` (the ``linear_relu`` fusion of
:mod:`chainrule.compiler.fusion`, whose groups the plan is made of), trained with softmax
cross-entropy on class indices, with mean squared error, or with sigmoid + binary
cross-entropy on logits) it records the step once per input shape: every
intermediate array (activations, masks, gradients, the loss's buffers) is allocated
once and every array call writes into it (``out=``); no Tensor and no graph is
built. ``Trainer(compile=True)`` trains through it (the scikit-learn estimators and
``chainrule train`` do). The arithmetic is the engine's, call for call, so the result
is bitwise the same as the normal engine's (tested), and the optimizer's own ``step``
applies the update (every optimizer, schedule and ``state_dict`` works unchanged).

Anything else (another layer or loss, a frozen parameter, an input of another dtype,
an empty batch) runs the normal engine: ``step.captured`` says which path the last
call took and ``step.reason`` why the fast one was not taken. A new batch size
records a new plan (the last partial batch of an epoch costs one more). After a
captured step each parameter's ``.grad`` is a buffer that the next step overwrites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import functional as F
from ..backend import array_module, fit_threads
from ..nn.layers import Linear, Sequential
from ..nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from ..nn.module import Module
from ..ops import loss as L
from ..ops._util import zeros_like_shared
from ..tensor import Tensor
from . import fusion

if TYPE_CHECKING:
    from ..optim.optimizer import Optimizer

__all__ = ["CompiledStep", "compile"]

_MAX_PLANS = 4  # batch shapes kept (full batches, the last partial one, evaluation...)


# The fusion groups the plan runs, by rule name (None: a module on its own): a Linear, or
# a Linear then ReLU (linear_relu); the value says whether the ReLU follows.
_PLANNED = {None: False, "linear_relu": True}


def _layers(model):
    """[(Linear, relu_follows)] for a supported model, or a reason string.

    The model's fusion groups (:func:`chainrule.compiler.fusion.groups`, the same
    grouping its eager forward runs) each become one layer of the plan: a lone
    ``Linear``, or a fusion the plan has a kernel for (``linear_relu``).
    """
    if not isinstance(model, Sequential):
        return f"the model is a {type(model).__name__}, not a Sequential"
    out, i = [], 0
    for group, rule in fusion.groups(tuple(model._modules.values())):
        first, name = group[0], None if rule is None else rule.name
        if type(first) is not Linear or name not in _PLANNED:
            return f"layer {i} is a {type(first).__name__} (captured: Linear, ReLU after Linear)"
        out.append((first, _PLANNED[name]))
        i += len(group)
    if not out:
        return "the model has no layers"
    if out[-1][1]:
        return "the model ends with ReLU (captured: logits from a last Linear)"
    return out


def _loss_kind(loss_fn):
    """How the plan computes the loss: ``None`` (softmax cross-entropy on its own
    buffers), ``(op, options)`` (an elementwise loss op called as the engine calls it),
    or a reason string when the loss is not captured."""
    if loss_fn is F.cross_entropy:
        return None
    if loss_fn is F.mse_loss:
        return L.mse_loss, {"reduction": "mean", "half": False}
    if loss_fn is F.binary_cross_entropy_with_logits:
        return L.binary_cross_entropy_with_logits, {"reduction": "mean"}
    kind = type(loss_fn)
    if kind is CrossEntropyLoss:
        if loss_fn.weight is None and not loss_fn.label_smoothing \
                and loss_fn.reduction == "mean":
            return None
        return "CrossEntropyLoss with weights, label smoothing or reduction != 'mean'"
    if kind is MSELoss and loss_fn.reduction != "none":
        return L.mse_loss, {"reduction": loss_fn.reduction, "half": loss_fn.half}
    if kind is BCEWithLogitsLoss and loss_fn.reduction != "none" \
            and loss_fn.weight is None and loss_fn.pos_weight is None:
        return L.binary_cross_entropy_with_logits, {"reduction": loss_fn.reduction}
    return f"the loss is {getattr(loss_fn, '__name__', type(loss_fn).__name__)} " \
           f"(captured: cross-entropy on class indices; MSELoss, BCEWithLogitsLoss " \
           f"without weights and with reduction 'mean' or 'sum')"


class _Plan:
    """The buffers of one batch shape; ``run`` is the engine's step, array call for array call."""

    def __init__(self, layers, n, dtype, xp, fortran):
        self.n = n
        self.h = [xp.empty((n, m.out_features), dtype=dtype) for m, _ in layers]
        self.mask = [xp.empty((n, m.out_features), dtype=bool) if relu else None
                     for m, relu in layers]
        self.gx = [None] + [xp.empty((n, m.in_features), dtype=dtype) for m, _ in layers[1:]]
        self.gw = [xp.empty((m.out_features, m.in_features), dtype=dtype,
                            order="F" if f else "C") for (m, _), f in zip(layers, fortran)]
        self.gwt = [g.T for g in self.gw]  # what the GEMM writes when the weight is F-ordered
        self.gb = [xp.empty(m.out_features, dtype=dtype) if m.bias is not None else None
                   for m, _ in layers]
        c = layers[-1][0].out_features
        self.c = c
        self.row_max = xp.empty((n, 1), dtype=dtype)
        self.row_sum = xp.empty((n, 1), dtype=dtype)
        self.log_sum = xp.empty((n, 1), dtype=dtype)
        self.picked = xp.empty(n, dtype=dtype)
        self.per = xp.empty(n, dtype=dtype)
        self.shifted = xp.empty((n, c), dtype=dtype)
        self.row_starts = xp.arange(0, n * c, c)
        self.flat = xp.empty(n, dtype=self.row_starts.dtype)
        self.scale = xp.ones((), dtype=dtype) * (1.0 / n)  # the seed 1 times d(mean)/d(per)
        self.zeros = [zeros_like_shared(h) for h in self.h]

    def _cross_entropy(self, xp, z, t):
        """ops.loss._cross_entropy_indices, into the plan's buffers: (loss, d loss / d z)."""
        n = self.n
        xp.add(self.row_starts, t, out=self.flat)
        xp.max(z, axis=1, keepdims=True, out=self.row_max)
        shifted = xp.subtract(z, self.row_max, out=self.shifted)
        e = xp.exp(shifted, out=z)  # the logits are not needed any more
        xp.sum(e, axis=1, keepdims=True, out=self.row_sum)
        xp.log(self.row_sum, out=self.log_sum)
        xp.take(shifted.reshape(-1), self.flat, out=self.picked)
        xp.subtract(self.log_sum.reshape(-1), self.picked, out=self.per)
        loss = self.per.sum() / n
        p = xp.divide(e, self.row_sum, out=e)
        p.reshape(-1)[self.flat] -= 1  # p - onehot(t)
        p *= self.scale
        return loss, p

    def run(self, xp, layers, fortran, x, t, loss_op):
        """Forward, loss and backward into the buffers; returns the loss value."""
        h, last = self.h, len(layers) - 1
        a = x
        for i, (m, relu) in enumerate(layers):
            w = m.weight.data
            fit_threads(a.size * w.shape[0])
            xp.matmul(a, w.T, out=h[i])  # ops.linalg._linear_forward
            if m.bias is not None:
                h[i] += m.bias.data
            if relu:  # ops.linalg.linear_relu
                xp.maximum(h[i], self.zeros[i], out=h[i])
            a = h[i]
        if loss_op is None:
            loss, g = self._cross_entropy(xp, h[last], t)
        else:  # the engine's own op and its backward, on arrays (no Tensor, no graph)
            op, options = loss_op
            if t.dtype.kind in "fb" and t.dtype != h[last].dtype:  # functional._target
                t = t.astype(h[last].dtype)
            value, backward = op(h[last], t, **options)
            loss = xp.asarray(value)
            seed = xp.ones(loss.shape, dtype=loss.dtype)  # Tensor.backward's seed
            g = backward(seed, (True, False))[0]  # a new array: written in place below
        for i in range(last, -1, -1):  # ops.linalg.linear_relu / linear backward
            m, relu = layers[i]
            w = m.weight.data
            prev = x if i == 0 else h[i - 1]
            if relu:
                xp.greater(h[i], self.zeros[i], out=self.mask[i])
                xp.multiply(g, self.mask[i], out=g)
            fit_threads(prev.size * w.shape[0])
            if i > 0:
                xp.matmul(g, w, out=self.gx[i])
            if fortran[i]:
                xp.matmul(prev.T, g, out=self.gwt[i])
            else:
                xp.matmul(g.T, prev, out=self.gw[i])
            if m.bias is not None:
                xp.sum(g, axis=0, out=self.gb[i])
            if i > 0:
                g = self.gx[i]
        return loss


class CompiledStep:
    """A training step recorded once per input shape and replayed (see :func:`compile`)."""

    def __init__(self, model: Module, loss_fn: Callable[..., Tensor],
                 optimizer: Optimizer) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        layers = _layers(model)
        kind = layers if isinstance(layers, str) else _loss_kind(loss_fn)
        why = kind if isinstance(kind, str) else None
        self._layers = None if why else layers
        self._loss_op = None if why else kind
        self._static_reason = why
        self._plans = {}
        self._plan = None
        self.captured = False
        self.reason = why

    def _engine_step(self, x, y):
        opt = self.optimizer
        opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    def _why_not(self, x, t):
        layers = self._layers
        w0 = layers[0][0].weight
        if x.ndim != 2 or x.shape[1] != w0.shape[1] or x.shape[0] == 0:
            return f"input of shape {x.shape}"
        c = layers[-1][0].out_features
        if self._loss_op is None:
            if x.dtype != w0.data.dtype or t.dtype.kind not in "iu" \
                    or t.shape != (x.shape[0],):
                return f"input dtype {x.dtype} or target {t.dtype} {t.shape}"
        elif x.dtype != w0.data.dtype or t.dtype.kind not in "fb" \
                or t.shape != (x.shape[0], c):
            return f"input dtype {x.dtype} or target {t.dtype} {t.shape}"
        dtypes = set()
        for m, _ in layers:
            for p in (m.weight, m.bias):
                if p is not None:
                    if not p.requires_grad:
                        return "a parameter does not require grad"
                    dtypes.add(p.data.dtype)
        if len(dtypes) != 1:
            return "parameters of several dtypes"
        # NOTE: seen as unsigned, a negative index is huge: one max checks both bounds.
        if self._loss_op is None and int(t.view(f"u{t.dtype.itemsize}").max()) >= c:
            return "a class index out of range (the engine raises the error)"
        return None

    def gradients(self, x: Any, y: Any) -> float:
        """Forward, loss and backward of one step, without the update.

        Each captured parameter's ``.grad`` is set to its gradient (a buffer that the
        next call overwrites); the optimizer is not touched. Returns the loss as a
        float, or ``None`` when this batch is not captured (``reason`` says why):
        the caller then runs the normal engine.
        """
        self.captured = False
        if self._layers is None:
            self.reason = self._static_reason
            return None
        xa = x.data if isinstance(x, Tensor) else x
        ta = y.data if isinstance(y, Tensor) else y
        if not hasattr(xa, "ndim") or not hasattr(ta, "dtype"):
            self.reason = "inputs are not arrays"
            return None
        why = self._why_not(xa, ta)
        if why:
            self.reason = why
            return None
        xp = array_module(xa)
        layers = self._layers
        fortran = tuple(bool(w.flags.f_contiguous and not w.flags.c_contiguous)
                        for w in (m.weight.data for m, _ in layers))
        key = (xa.shape[0], xa.dtype, fortran)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[key] = _Plan(layers, xa.shape[0], xa.dtype, xp, fortran)
        loss = plan.run(xp, layers, fortran, xa, ta, self._loss_op)
        for i, (m, _) in enumerate(layers):
            m.weight.grad = plan.gw[i]
            if m.bias is not None:
                m.bias.grad = plan.gb[i]
        self._plan = plan
        self.captured, self.reason = True, None
        return float(loss)

    @property
    def outputs(self) -> Any:
        """The model's outputs on the last captured batch, for predictions.

        With cross-entropy these are the logits minus each row's maximum (the
        buffer the loss shifts them into: the same softmax and argmax); with the
        other losses the outputs themselves. Overwritten by the next call.
        """
        if self._plan is None:
            return None
        plan = self._plan
        return plan.shifted if self._loss_op is None else plan.h[-1]

    def __call__(self, x, y):
        """One training step on the batch ``(x, y)``; returns the loss as a float."""
        opt = self.optimizer
        opt.zero_grad()
        loss = self.gradients(x, y)
        if loss is None:
            return self._engine_step(x, y)
        opt.step()
        return loss


def compile(model: Module, loss_fn: Callable[..., Tensor],
            optimizer: Optimizer) -> CompiledStep:  # the name PyTorch users expect (torch.compile)
    """Record a training step once per input shape and replay it without the engine.

    Parameters
    ----------
    model : Module
        Captured when it is a ``Sequential`` of ``Linear`` layers, each optionally
        followed by ``ReLU``; any other model runs the normal engine.
    loss_fn : callable
        Captured: ``nn.CrossEntropyLoss()`` (no weights, no smoothing, 'mean') or
        ``F.cross_entropy`` on class indices; ``nn.MSELoss`` (``half`` or not) or
        ``F.mse_loss``; ``nn.BCEWithLogitsLoss()`` (no weights) or
        ``F.binary_cross_entropy_with_logits``, the last two with float targets of
        the outputs' shape and reduction 'mean' or 'sum'. Any other loss runs the
        normal engine.
    optimizer : Optimizer
        Applies the update (its ``step``), whatever it is.

    Returns
    -------
    CompiledStep
        ``step(x, y) -> float``: zero_grad, forward, loss, backward and the optimizer's
        step on the batch; bitwise the same result as the normal engine's.

    Examples
    --------
    >>> step = cr.compile(model, nn.CrossEntropyLoss(), opt)
    >>> for xb, yb in loader:
    ...     loss = step(xb, yb)
    """
    return CompiledStep(model, loss_fn, optimizer)
