"""Start tests/distributed/worker.py under ``mpiexec -n N``; skip when MPI is absent."""

import os
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "worker.py")


def mpiexec():
    """The mpiexec next to this Python (the mpich wheel puts it there), else on PATH."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'chainrule[mpi]')")
    local = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = local if os.path.exists(local) else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec found (pip install mpich, or the site's MPI)")
    return found


def env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    for k in [k for k in e if k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL"))]:
        del e[k]  # a pytest itself run under mpiexec must not pass its world on
    e.update({k: str(v) for k, v in extra.items()})
    return e


def command(n, *args, cli=False):
    """``mpiexec -n n python worker.py args`` (no mpiexec when n == 0: a plain process);
    with ``cli``, ``python -m chainrule args``."""
    py = [sys.executable, *(["-m", "chainrule"] if cli else [WORKER]), *map(str, args)]
    return py if n == 0 else [mpiexec(), "-n", str(n), *py]


def run(n, *args, timeout=60, check=True, cli=False, **extra_env):
    """Run the worker on ``n`` ranks (0: without mpiexec); returns the CompletedProcess."""
    start = time.monotonic()
    p = subprocess.run(command(n, *args, cli=cli), env=env(**extra_env), capture_output=True,
                       text=True, timeout=timeout, cwd=ROOT)
    p.seconds = time.monotonic() - start
    if check and p.returncode != 0:
        raise AssertionError(f"mpiexec -n {n} {' '.join(map(str, args))} exited "
                             f"{p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p
