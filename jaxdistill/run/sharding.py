"""Sharding a population of learners across every device present (CPU, GPUs, TPU slices).

Populations (learners, seeds, configurations) carry a leading axis that is split over a 1-D mesh
axis named ``"learners"``; jit partitions the vmapped work accordingly. On several hosts, call
:func:`initialize_distributed` first (JAX's own distributed runtime), then build the mesh from
``jax.devices()``, which then lists every host's devices.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

POPULATION_AXIS = "learners"


def population_mesh(devices=None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (POPULATION_AXIS,))


def population_sharding(mesh: Mesh) -> NamedSharding:
    """Split the leading (population) axis over the mesh; everything else replicated."""
    return NamedSharding(mesh, PartitionSpec(POPULATION_AXIS))


def constrain_population(tree, mesh: Mesh | None):
    """Inside jit: pin every array's leading axis to the population mesh axis (no-op without a mesh)."""
    if mesh is None:
        return tree
    sharding = population_sharding(mesh)
    return jax.tree_util.tree_map(
        lambda x: jax.lax.with_sharding_constraint(x, sharding) if getattr(x, "ndim", 0) >= 1 else x, tree
    )


def check_divisible(num: int, mesh: Mesh | None, what: str = "learners") -> None:
    if mesh is not None and num % mesh.size:
        raise ValueError(f"{num} {what} do not split evenly over {mesh.size} devices; use a multiple of {mesh.size}")


def to_host(x) -> np.ndarray:
    """The whole (possibly multi-host sharded) array as NumPy, on every process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def is_main_process() -> bool:
    """Whether this process writes files (process 0 of a multi-host run, or the only one)."""
    return jax.process_index() == 0


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Start JAX's multi-host runtime (arguments default to the cluster's environment, e.g. on TPU pods
    or SLURM). Call once per process before any other JAX work."""
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)
