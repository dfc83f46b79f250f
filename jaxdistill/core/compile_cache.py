"""A persistent XLA compilation cache, so that a second run of the same program starts warm.

JAX keys every compiled program by its computation, shapes, compiler options and versions, so a cached program is
reused only where it would compile to the same thing: the numbers of a run do not change with the cache, only its
start-up time.

Where it is on by default, and why not everywhere:

* **Accelerators (GPU, TPU)**: on, under the user's cache directory (``$XDG_CACHE_HOME/jaxdistill/xla`` or
  ``~/.cache/jaxdistill/xla``). Compiling a meta-epoch there costs tens of seconds that a second run skips.
* **CPU**: off unless asked for. With jax/jaxlib 0.9.x (our pin) every reload of a CPU entry logs an E-level
  line per program ("Target machine feature +prefer-no-gather is not supported on the host machine ... could lead
  to execution errors such as SIGILL"): LLVM's tuning attributes are checked as if they were instruction-set
  features (jax-ml/jax#38445, openxla/xla#44565, open). The entry is still used (a second run of
  tests/multiprocess_check.py into the same cache: 18.0 s -> 7.3 s), but a default that prints a SIGILL warning per
  program on every run is not one we set for the user. Measured on the main job (2-core AMD EPYC): 21.3 / 23.4 / 23.6 s cold against
  20.8 / 22.2 / 22.3 s "warm" (docs/testing.md).

``JAXDISTILL_COMPILE_CACHE`` set to a directory turns it on anywhere (and moves it), set to ``0`` turns it off;
the flag ``--no-compile-cache`` turns it off; JAX's own ``JAX_COMPILATION_CACHE_DIR`` is respected. On a CPU the
warning goes away where XLA is told not to use AVX-512 (``XLA_FLAGS=--xla_cpu_max_isa=AVX2``, which drops the
offending tuning attributes): that changes the generated code, hence the last bits of the numbers, so we never set
it for the user.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ENV_VAR = "JAXDISTILL_COMPILE_CACHE"
OFF_FLAG = "--no-compile-cache"
MIN_COMPILE_SECONDS = 0.5
"""Programs that compile faster than this are not written (the many tiny ones would cost more disk than time)."""
CPU_REASON = ("off by default on CPU: jax 0.9 logs a SIGILL warning per program reloaded (jax-ml/jax#38445); "
              f"{ENV_VAR}=DIR turns it on")

_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm7_plugin", "libtpu")


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxdistill" / "xla"


def accelerator_expected() -> bool:
    """Whether JAX will pick an accelerator, decided without starting a backend (``jax.distributed`` must be
    initialised before any backend is): ``JAX_PLATFORMS`` where set, else whether an accelerator plugin is
    installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms.split(",")[0] not in ("cpu", "")
    return any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_PLUGINS)


def choose(argv: list[str], accelerator: bool | None = None) -> tuple[Path | None, list[str], str]:
    """``(cache directory or None when off, argv without the cache flag, why)``: the flag wins over the variables,
    the variables over the platform's default."""
    rest = [a for a in argv if a != OFF_FLAG]
    if len(rest) != len(argv):
        return None, rest, f"off ({OFF_FLAG})"
    value = os.environ.get(ENV_VAR, "").strip()
    if value.lower() in ("0", "off", "false", "no"):
        return None, rest, f"off ({ENV_VAR}={value})"
    if value:
        return Path(value).expanduser(), rest, f"from {ENV_VAR}"
    jax_dir = os.environ.get("JAX_COMPILATION_CACHE_DIR", "").strip()
    if jax_dir:
        return Path(jax_dir), rest, "from JAX_COMPILATION_CACHE_DIR"
    if accelerator is None:
        accelerator = accelerator_expected()
    if not accelerator:
        return None, rest, CPU_REASON
    return default_dir(), rest, "default on an accelerator"


def enable(directory: Path) -> Path:
    """Point JAX's persistent compilation cache at ``directory`` (created if missing)."""
    import jax

    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory


def disable() -> None:
    """No persistent cache, even where ``JAX_COMPILATION_CACHE_DIR`` asked JAX for one."""
    import jax

    jax.config.update("jax_compilation_cache_dir", None)
