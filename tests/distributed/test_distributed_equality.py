"""n ranks with global batch B take the same steps as one process with batch B.

Tolerance: float32 round-off. The ranks sum their shares of the batch in another
order than one process does, which moves weights of size ~1 by a few 1e-7 over
these 15 steps; we allow 1e-5 absolute. The ranks themselves must agree bit for bit.
"""

import numpy as np
from mpirun import mpiexec, run

TOL = 1e-5


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def assert_same_weights(a, b, tol=TOL):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=tol, err_msg=k)


def test_primitives_give_one_process_weights(tmp_path, optimizer="sgd"):
    # fit(..., distributed=True) is checked for SGD and Adam on 2 and 3 ranks in
    # test_distributed_fit; here the primitives alone, on 3 ranks
    mpiexec()
    run(0, "loop", optimizer, tmp_path / "one.npz")
    one = _load(tmp_path / "one.npz")
    for n in (3,):  # uneven shares, and one rank gets an empty tail batch
        out = tmp_path / f"n{n}.npz"
        run(n, "loop", optimizer, out)
        many = _load(out)
        assert_same_weights(many, one)
        for r in range(n):  # no rank drifts from the others
            other = _load(f"{out}.rank{r}.npz")
            for k in many:
                np.testing.assert_array_equal(other[k], many[k], err_msg=f"rank {r} {k}")
