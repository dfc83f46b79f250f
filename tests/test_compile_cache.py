"""The persistent compilation cache's switch: where it goes and what turns it off."""

from __future__ import annotations

from pathlib import Path

from jaxdistill.core import compile_cache


def test_the_cache_defaults_to_the_users_cache_directory_and_the_flag_or_variable_turn_it_off(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.choose(["--k", "3"]) == (tmp_path / "jaxdistill" / "xla", ["--k", "3"])
    # The flag is taken out of argv (no CLI's parser knows it) and wins over everything.
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "elsewhere"))
    assert compile_cache.choose(["--no-compile-cache", "--k", "3"]) == (None, ["--k", "3"])
    assert compile_cache.choose([])[0] == tmp_path / "elsewhere"
    monkeypatch.setenv(compile_cache.ENV_VAR, "0")
    assert compile_cache.choose([])[0] is None
    # JAX's own variable (the suite's per-session cache) is kept, not replaced by the default.
    monkeypatch.delenv(compile_cache.ENV_VAR)
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compile_cache.choose([])[0] == Path(tmp_path / "jax")
