"""jaxdistill: distil reinforcement learning into tiny synthetic datasets, in JAX."""

__version__ = "0.1.0"
