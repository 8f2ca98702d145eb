"""Shared fixtures: an isolated data cache, and a quiet TensorFlow for in-process model tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(autouse=True)
def _isolated_imdb_lookup(monkeypatch, tmp_path_factory):
    """No test may read the user's real Keras cache or imdb file by accident."""
    home = tmp_path_factory.mktemp("keras_home")
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("RNNBENCH_IMDB_PATH", raising=False)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One data cache for the whole session: the synthetic set is generated once, not per test."""
    path = os.environ.get("RNNBENCH_TEST_CACHE") or str(tmp_path_factory.mktemp("rnnbench_cache"))
    return path


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, shared_cache):
    monkeypatch.setenv("RNNBENCH_CACHE", shared_cache)
