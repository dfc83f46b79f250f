"""A persistent XLA compilation cache, so that a second run of the same program starts warm.

JAX keys every compiled program by its computation, shapes, compiler options and versions, so a cached program is
reused only where it would compile to the same thing: the numbers of a run do not change with the cache, only its
start-up time. On by default for the command-line programs, under the user's cache directory
(``$XDG_CACHE_HOME/jaxdistill/xla`` or ``~/.cache/jaxdistill/xla``); ``JAXDISTILL_COMPILE_CACHE`` set to a directory
moves it, set to ``0`` (or the flag ``--no-compile-cache``) turns it off.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "JAXDISTILL_COMPILE_CACHE"
OFF_FLAG = "--no-compile-cache"
MIN_COMPILE_SECONDS = 0.5
"""Programs that compile faster than this are not written (the many tiny ones would cost more disk than time)."""


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxdistill" / "xla"


def choose(argv: list[str]) -> tuple[Path | None, list[str]]:
    """``(cache directory or None when off, argv without the cache flag)``: the flag wins over the variable."""
    rest = [a for a in argv if a != OFF_FLAG]
    if len(rest) != len(argv):
        return None, rest
    value = os.environ.get(ENV_VAR, "").strip()
    if value.lower() in ("0", "off", "false", "no"):
        return None, rest
    if value:
        return Path(value).expanduser(), rest
    # JAX's own variable (the test suite sets one per session) is respected, not overridden.
    jax_dir = os.environ.get("JAX_COMPILATION_CACHE_DIR", "").strip()
    return (Path(jax_dir) if jax_dir else default_dir()), rest


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
