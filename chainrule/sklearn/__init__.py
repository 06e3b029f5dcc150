"""scikit-learn estimators: :class:`NeuralNetClassifier` and :class:`NeuralNetRegressor`.

Drop-in replacements for scikit-learn's ``MLPClassifier`` and ``MLPRegressor``
(same hyper-parameters where the concept exists, same fitted attributes, same
stopping rules), trained by :class:`chainrule.train.Trainer` (the one training
loop) with scikit-learn's rules as its options and callbacks, plus
chainrule's own options: every optimizer and learning-rate schedule, a
one-vs-all output, dropout, batch normalisation, class weights, robust
regression losses. They follow scikit-learn's estimator rules, so they work in
``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle.

Needs scikit-learn (``pip install chainrule[sklearn]``); ``import chainrule``
does not import this module.

How scikit-learn's hyper-parameters map onto chainrule
------------------------------------------------------
- ``alpha``: scikit-learn adds ``alpha / (2 sum(w_B)) ||W||^2`` to the loss of a
  minibatch B (``sum(w_B)`` its sample-weight total, its size without weights),
  for the weights W only. Its gradient ``alpha / sum(w_B) * W`` is applied as
  the optimizer's ``weight_decay`` on a parameter group holding the weights
  alone, set for each minibatch; the penalty's value is added to the reported
  loss (``loss_curve_``), as scikit-learn does.
- ``solver``: 'sgd' is scikit-learn's (momentum ``momentum``, Nesterov when
  ``nesterovs_momentum``), 'adam' uses ``beta_1, beta_2, epsilon``; chainrule's
  'momentum' (classical), 'nesterov', 'adamw', 'rmsprop' and 'adagrad' are the
  optimizers of :func:`chainrule.optim.get_optimizer`.
- ``learning_rate`` ('constant', 'invscaling', 'adaptive') applies to the SGD
  solvers ('sgd', 'momentum', 'nesterov') as in scikit-learn; ``lr_schedule``
  names any chainrule scheduler (stepped once per epoch) for any solver.
- ``tol`` / ``n_iter_no_change`` / ``early_stopping``: scikit-learn's rules,
  epoch by epoch (training loss, or the validation score with early stopping),
  as the Trainer's convergence test.
- ``dtype``: None (the default) follows the input like scikit-learn's MLP:
  float32 X trains in float32, anything else in float64.
"""

from ._classifier import NeuralNetClassifier
from ._regressor import NeuralNetRegressor

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]
