"""Several processes, one global mesh: joining JAX's distributed runtime, failing loudly, sharing values.

``import jaxdistill`` calls :func:`setup`, which reads the environment. There are three ways a process can run:

- **Launched by** ``python -m jaxdistill.launch``, which sets :data:`JAX_COORDINATOR_ADDRESS`,
  :data:`ENV_NUM_PROCESSES` and :data:`ENV_PROCESS_ID` for every process it starts. The process joins them.
- **With** ``JAXDISTILL_DISTRIBUTED=1`` on a cluster (SLURM, a TPU pod slice, Open MPI, Kubernetes). JAX
  detects the coordinator, the process count and this process's id from the scheduler's environment.
- **Otherwise**, as one process.

Joining happens at import, not from a command-line flag, because the process must join before anything
starts JAX's backend, and importing gymnax already does. A study's configuration is parsed after its
imports, too late for that.

After :func:`setup`, ``jax.devices()`` lists every process's devices, so
:func:`jaxdistill.core.sharding.population_mesh` spans all of them. Every process runs the same program with
the same keys. Process 0 alone writes files (:func:`jaxdistill.core.sharding.is_main_process`).

**Failures stop every process in bounded time.** A process that never joins makes the others fail
:func:`setup` after the join timeout, with a message. When a process dies mid-run, the others find out in one
of two ways:

- A collective that needs the dead process fails at once, because gloo's connection closes. The exception hook
  installed here then prints what happened and exits with status 1. It skips JAX's shutdown barrier, which
  would otherwise wait for the dead process.
- A process that is computing learns of the death from the coordination service once the dead process has
  missed heartbeats for the heartbeat timeout. JAX then aborts it with "another task died".
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import traceback

import jax
import numpy as np

JAX_COORDINATOR_ADDRESS = "JAX_COORDINATOR_ADDRESS"  # JAX reads this one itself
ENV_NUM_PROCESSES = "JAXDISTILL_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXDISTILL_PROCESS_ID"
ENV_AUTO_DETECT = "JAXDISTILL_DISTRIBUTED"  # "1": let jax.distributed.initialize() read the cluster's environment
ENV_JOIN_TIMEOUT = "JAXDISTILL_JOIN_TIMEOUT_S"
ENV_HEARTBEAT_TIMEOUT = "JAXDISTILL_HEARTBEAT_TIMEOUT_S"

# JAX's defaults are 300 s to join and 100 s of missed heartbeats; a study on a busy cluster can afford a
# shorter wait, and a dead peer should not hold a pod for minutes.
DEFAULT_JOIN_TIMEOUT_S = 120
DEFAULT_HEARTBEAT_TIMEOUT_S = 30

_initialized = False


def launched() -> bool:
    """Whether ``jaxdistill.launch`` started this process (its environment names the process group)."""
    return ENV_NUM_PROCESSES in os.environ


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise SystemExit(f"jaxdistill: error: {name}={value!r} is not an integer") from None


def auto_detect() -> bool:
    """Whether this process was asked to find its group in the cluster's environment."""
    return os.environ.get(ENV_AUTO_DETECT, "").strip().lower() not in ("", "0", "false", "no")


def setup() -> None:
    """Join the process group the environment names, if any (``import jaxdistill`` does this). It must run
    before anything starts JAX's backend. Calling it twice is harmless."""
    global _initialized
    if _initialized or not (launched() or auto_detect()):
        return
    try:  # a private helper; without it, jax.distributed.initialize() raises its own error instead
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:
        def backends_are_initialized():
            return False

    if backends_are_initialized():
        raise SystemExit("jaxdistill: error: JAX's backend started before this process could join its group; "
                         "import jaxdistill before any other JAX work (or gymnax, which starts the backend)")
    # CPU processes exchange arrays through gloo; without it, cross-process CPU collectives are absent.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if launched():
        kwargs = {"coordinator_address": os.environ.get(JAX_COORDINATOR_ADDRESS),
                  "num_processes": _env_int(ENV_NUM_PROCESSES, 1), "process_id": _env_int(ENV_PROCESS_ID, 0)}
        if not kwargs["coordinator_address"]:
            raise SystemExit(f"jaxdistill: error: {ENV_NUM_PROCESSES} is set but {JAX_COORDINATOR_ADDRESS} is not")
    join = _env_int(ENV_JOIN_TIMEOUT, DEFAULT_JOIN_TIMEOUT_S)
    heartbeat = _env_int(ENV_HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT_S)
    where = (f"process {kwargs['process_id']} of {kwargs['num_processes']} (coordinator "
             f"{kwargs['coordinator_address']})" if kwargs else "this process (cluster auto-detection)")
    print(f"[jaxdistill] {where}: joining; waiting up to {join} s for every process", file=sys.stderr, flush=True)
    # When a process never comes, JAX aborts from C++ without a word about which step failed. This timer
    # speaks first and exits non-zero.
    watchdog = threading.Timer(join, _never_joined, args=(where, join))
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(**kwargs, initialization_timeout=join, heartbeat_timeout_seconds=heartbeat)
    except Exception as e:  # noqa: BLE001 - every failure to join ends the same way, with its cause
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = ""
        if any(s in str(e) for s in ("DEADLINE_EXCEEDED", "timed out", "Timed out", "UNAVAILABLE")):
            hint = (f"\nNot every process joined within {join} s: did all start, with the same coordinator "
                    "address and process count?")
        raise SystemExit(f"jaxdistill: error: {where} could not join the process group: {first}{hint}") from None
    finally:
        watchdog.cancel()
    _initialized = True
    sys.excepthook = _exit_on_error
    log(f"joined: process {jax.process_index()} of {jax.process_count()}, {jax.local_device_count()} local of "
        f"{jax.device_count()} devices ({jax.devices()[0].platform}); heartbeat timeout {heartbeat} s")


def _never_joined(where: str, join: int) -> None:
    print(f"[jaxdistill] error: {where}: the process group did not assemble within {join} s; at least one "
          "process never joined (did every process start, with the same coordinator address and process "
          f"count?). Stopping. ({ENV_JOIN_TIMEOUT} sets the wait.)", file=sys.stderr, flush=True)
    os._exit(1)


def _exit_on_error(kind, value, tb) -> None:
    """Print the error and leave at once. The normal exit would run JAX's shutdown barrier, which waits up to
    the heartbeat timeout for a peer that may be dead, and then aborts."""
    traceback.print_exception(kind, value, tb)
    dead_peer = any(s in str(value) for s in ("Connection closed by peer", "Connection reset", "Gloo",
                                              "heartbeat", "UNAVAILABLE"))
    cause = "another process has probably died or left" if dead_peer else "the error above"
    print(f"[jaxdistill] process {jax.process_index()} of {jax.process_count()} stops: {cause}",
          file=sys.stderr, flush=True)
    os._exit(1)


def log(message: str) -> None:
    """A progress line on stderr, from process 0 only (the others run the same program)."""
    if jax.process_index() == 0:
        prefix = f"[process 0 of {jax.process_count()}] " if jax.process_count() > 1 else ""
        print(prefix + message, file=sys.stderr, flush=True)


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true on any process, the same answer on every process (a collective: every process
    must call it at the same point). A stop signal that reached one process first stops all of them at the same
    chunk, so none is left waiting in a collective for the others."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(np.asarray(multihost_utils.process_allgather(np.int32(bool(flag))))))


def from_main(load):
    """What ``load()`` returns on process 0 (any picklable value: a dataset, its metadata), on every process.

    Only process 0 calls ``load``, so a file that only process 0 can see (it wrote it, or only it has the disk)
    serves every process. An exception in ``load`` ends every process with the same ``SystemExit``."""
    if jax.process_count() == 1:
        return load()
    from jax.experimental import multihost_utils

    payload = b""
    if jax.process_index() == 0:
        try:
            payload = pickle.dumps(("ok", jax.device_get(load())))
        except (Exception, SystemExit) as e:  # noqa: BLE001 - raised on every process below
            payload = pickle.dumps(("error", str(e) or type(e).__name__))
    # Two broadcasts: the length, then the bytes (every process must offer an array of the same shape).
    size = int(multihost_utils.broadcast_one_to_all(np.int32(len(payload))))
    raw = multihost_utils.broadcast_one_to_all(
        np.frombuffer(payload, np.uint8) if payload else np.zeros(size, np.uint8))
    status, value = pickle.loads(np.asarray(raw, np.uint8).tobytes())  # bytes from our own process 0
    if status == "error":
        raise SystemExit(value)
    return value
