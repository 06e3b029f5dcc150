"""chainrule.distributed without MPI: one rank, nothing imported, primitives are identities."""

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed as dist


def test_import_chainrule_does_not_import_mpi4py():
    code = ("import sys, chainrule, chainrule.distributed as d; d.init(); "
            "print('mpi4py' in sys.modules, d.world_size(), d.rank(), d.is_main())")
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["False", "1", "0", "True"]


def test_single_process_primitives():
    assert dist.init() == 1
    assert not dist.is_initialized()
    assert dist.all_reduce(3.5) == 3.5
    np.testing.assert_array_equal(dist.all_reduce([1, 2], op="max"), [1.0, 2.0])
    assert dist.broadcast_json({"a": [1, 2]}) == {"a": [1, 2]}
    dist.barrier()
    calls = []
    assert dist.main_only(lambda x: calls.append(x) or 7)(3) == 7 and calls == [3]


def test_gradient_allreduce_on_one_rank_keeps_the_gradient():
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    x = cr.randn(5, 3)
    model(x).sum().backward()
    before = [p.grad.copy() for p in model.parameters()]
    reducer = dist.GradientAllreduce(model.parameters(), n_extras=2)
    total, extras = reducer.reduce(5.0, [1.0, 2.0])
    assert total == 5.0 and extras.tolist() == [1.0, 2.0]
    for p, g in zip(model.parameters(), before):
        np.testing.assert_allclose(p.grad, g, rtol=1e-6)
        assert p.grad.shape == p.data.shape
    model.zero_grad()
    reducer.reduce(0.0)  # a rank without samples: no gradient anywhere
    assert all(p.grad is None for p in model.parameters())


def test_launched_size_reads_the_launcher_environment(monkeypatch):
    for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert dist.launched_size() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert dist.launched_size() == 4


def test_fit_under_a_launcher_without_distributed_warns(monkeypatch):
    from chainrule.train import fit

    monkeypatch.setenv("PMI_SIZE", "2")
    model = cr.nn.Linear(3, 1)
    X, y = np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32)
    with pytest.warns(UserWarning, match="each trains a model of its own"):
        fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1)


def test_distributed_fit_with_one_process_trains_as_usual():
    from chainrule.train import fit

    def train(distributed):
        cr.manual_seed(3)
        model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 1))
        X = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
        y = X[:, :1] * 2
        h = fit(model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.1), (X, y),
                epochs=3, batch_size=4, seed=0, distributed=distributed)
        return model, h

    a, ha = train(False)
    b, hb = train(True)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(q.data, p.data, rtol=0, atol=1e-6)
    assert [r["loss"] for r in hb.rows] == pytest.approx([r["loss"] for r in ha.rows], rel=1e-6)


def test_abort_without_mpi_prints_detail_then_message_and_exits_with_the_code():
    code = ("from chainrule.distributed import world; "
            "world.abort('something failed', 3, detail='the traceback\\n')")
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 3
    assert p.stderr == "the traceback\nsomething failed\n"  # one rank: no prefix
