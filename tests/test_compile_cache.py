"""The persistent compilation cache's switch: where it goes, what turns it on and off, and why CPU defaults off."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaxdistill.core import compile_cache


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (compile_cache.ENV_VAR, "JAX_COMPILATION_CACHE_DIR", "JAX_PLATFORMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return monkeypatch


def test_default_is_on_under_the_users_cache_directory_on_an_accelerator_and_off_on_cpu(clean_env, tmp_path):
    assert compile_cache.choose(["--k", "3"], accelerator=True)[:2] == (tmp_path / "jaxdistill" / "xla", ["--k", "3"])
    cache, rest, why = compile_cache.choose(["--k", "3"], accelerator=False)
    assert (cache, rest) == (None, ["--k", "3"])
    assert "38445" in why and compile_cache.ENV_VAR in why  # the line says why and how to turn it on


def test_the_flag_wins_and_the_variables_override_the_platform_default(clean_env, tmp_path):
    clean_env.setenv(compile_cache.ENV_VAR, str(tmp_path / "elsewhere"))
    # The flag is taken out of argv (no CLI's parser knows it) and wins over everything.
    assert compile_cache.choose(["--no-compile-cache", "--k", "3"], accelerator=True)[:2] == (None, ["--k", "3"])
    assert compile_cache.choose([], accelerator=False)[0] == tmp_path / "elsewhere"  # asked for on CPU: on
    clean_env.setenv(compile_cache.ENV_VAR, "0")
    assert compile_cache.choose([], accelerator=True)[0] is None
    clean_env.delenv(compile_cache.ENV_VAR)
    clean_env.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))  # JAX's own variable is respected
    assert compile_cache.choose([], accelerator=False)[0] == Path(tmp_path / "jax")


def test_the_platform_is_read_from_jax_platforms_without_starting_a_backend(clean_env):
    clean_env.setenv("JAX_PLATFORMS", "cpu")
    assert compile_cache.accelerator_expected() is False
    clean_env.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert compile_cache.accelerator_expected() is True


def test_the_suite_compiles_unoptimised_unless_a_test_is_marked_optimized():
    import jax

    assert jax.config.read("jax_disable_most_optimizations") is True  # tests/conftest.py, for every process


@pytest.mark.optimized
def test_a_test_marked_optimized_compiles_with_xla_optimisations():
    import jax

    assert jax.config.read("jax_disable_most_optimizations") is False
