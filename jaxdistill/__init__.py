"""jaxdistill: distil reinforcement learning into tiny synthetic datasets, in JAX."""

import os

# jaxlib's CPU LAPACK kernels (QR for orthogonal initialisation, thousands of small matrices per
# k-shot evaluation) run on scipy's OpenBLAS, whose threads spin against XLA's own thread pool:
# on a 2-core machine a batch of 300 128x128 QRs took 15 s with OpenBLAS threads and 0.5 s without.
# OpenBLAS reads this when it first loads (at the first LAPACK call), so it also works after `import jax`.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

# A process started by `python -m jaxdistill.launch`, or on a cluster with JAXDISTILL_DISTRIBUTED=1, joins its
# process group here: it has to happen before JAX's backend starts, and importing gymnax starts it.
if os.environ.get("JAXDISTILL_NUM_PROCESSES") or os.environ.get("JAXDISTILL_DISTRIBUTED"):
    from jaxdistill.core import distributed as _distributed

    _distributed.setup()
