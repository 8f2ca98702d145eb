"""The model registry: lookup, patterns, validation, and every entry's build against known counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rnnbench.models import create_model, get_spec, list_models, register_model
from rnnbench.models.registry import _REGISTRY

import models

#: The tutorial's parameter counts (Embedding(10000, 32) + recurrent body + Dense(1)).
PINNED_PARAMS = {
    "simple_rnn": 322_113,
    "stacked_simple_rnn": 328_353,
    "lstm": 328_353,
    "gru": 326_369,
    "bidirectional_lstm": 336_705,
    "lstm_dropout": 328_353,
}


def test_required_entries_exist():
    assert set(PINNED_PARAMS) <= set(list_models())


def test_every_entry_has_a_pinned_count():
    assert set(list_models()) == set(PINNED_PARAMS), "a new entry needs its parameter count pinned here"


@pytest.mark.parametrize("name", list_models())
def test_builds_with_pinned_params_and_finite_output(name):
    model = create_model(name, maxlen=20)
    assert model.count_params() == PINNED_PARAMS[name]
    x = np.random.default_rng(0).integers(0, 10_000, size=(3, 20)).astype("int32")
    y = np.asarray(model(x))
    assert y.shape == (3, 1)
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))


@pytest.mark.parametrize("name", list_models())
def test_kernel_is_explicit(name):
    """LSTM/GRU layers get use_cudnn True/False, never 'auto'."""
    for kernel in get_spec(name).kernels:
        if kernel in get_spec(name).unsupported:
            continue
        model = create_model(name, kernel=kernel, maxlen=8)
        for layer in model.layers:
            inner = getattr(layer, "forward_layer", layer)
            if hasattr(inner, "use_cudnn"):
                assert inner.use_cudnn is (kernel == "cudnn")


def test_simple_rnn_has_only_generic():
    assert get_spec("simple_rnn").kernels == ("generic",)
    with pytest.raises(ValueError, match="no kernel 'cudnn'"):
        create_model("simple_rnn", kernel="cudnn")


def test_unsupported_kernel_names_the_reason():
    with pytest.raises(ValueError, match="recurrent_dropout"):
        create_model("lstm_dropout", kernel="cudnn")


def test_patterns_and_order():
    assert list_models("lstm*") == ["lstm", "lstm_dropout"]
    assert list_models("gru", "simple*") == ["gru", "simple_rnn"]
    assert list_models("nothing*") == []
    assert list_models() == sorted(list_models())


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError) as err:
        get_spec("lstn")
    assert "did you mean 'lstm'" in str(err.value) and "simple_rnn" in str(err.value)


def test_duplicate_registration_fails():
    with pytest.raises(ValueError, match="already registered"):
        register_model("lstm", arch="LSTM", description="dup")(lambda **_: None)


def test_overrides_change_the_model_and_bad_ones_fail():
    assert create_model("lstm", units=8, maxlen=5).count_params() == 320_000 + 4 * (32 * 8 + 8 * 8 + 8) + 9
    with pytest.raises(TypeError, match="no hyper-parameter"):
        create_model("lstm", unitz=8)


def test_spec_is_frozen():
    spec = get_spec("lstm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.defaults["units"] = 64  # type: ignore[index]


def test_register_and_use_a_new_entry():
    @register_model("tiny_gru_test", arch="GRU", kernels=("generic", "cudnn"), description="test", units=4, vocab_size=50, embed_dim=4)
    def tiny(*, kernel, maxlen, units, vocab_size, embed_dim):
        import keras
        from keras import layers

        return keras.Sequential([keras.Input((maxlen,)), layers.Embedding(vocab_size, embed_dim),
                                 layers.GRU(units, use_cudnn=kernel == "cudnn"), layers.Dense(1)])

    try:
        assert "tiny_gru_test" in list_models("tiny*")
        assert create_model("tiny_gru_test", maxlen=3).count_params() > 0
    finally:
        _REGISTRY.pop("tiny_gru_test")
    assert models.list_models("tiny*") == []
