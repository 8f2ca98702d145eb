"""FLOP counts against hand counts for the tutorial's models (maxlen 500, 32-dim embedding, 32 units)."""

from __future__ import annotations

import pytest
from rnnbench.models import create_model, list_models
from rnnbench.models.flops import forward_flops_per_sample, train_flops_per_sample

# Worked by hand from the formulas in models/flops.py, d = u = 32, T = 500, Dense(1, sigmoid) = 2*32+1+1 = 66.
HAND = {
    # SimpleRNN step: 2*32*64 + 3*32 = 4096 + 96 = 4192
    "simple_rnn": 500 * 4_192 + 66,
    # four layers, all with d = 32
    "stacked_simple_rnn": 4 * 500 * 4_192 + 66,
    # LSTM step: 8*32*64 + 17*32 = 16384 + 544 = 16928
    "lstm": 500 * 16_928 + 66,
    # GRU step: 6*32*64 + 17*32 = 12288 + 544 = 12832
    "gru": 500 * 12_832 + 66,
    # two LSTMs, Dense over 64 features: 2*64+1+1 = 130
    "bidirectional_lstm": 2 * 500 * 16_928 + 130,
    "lstm_dropout": 500 * 16_928 + 66,
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_matches_hand_count(name):
    model = create_model(name, maxlen=500)
    assert forward_flops_per_sample(model, 500) == pytest.approx(HAND[name], rel=0.01)
    assert train_flops_per_sample(model, 500) == 3 * forward_flops_per_sample(model, 500)


@pytest.mark.parametrize("name", list_models())
def test_every_entry_has_a_formula_and_scales_with_maxlen(name):
    model = create_model(name, maxlen=100)
    short, long = forward_flops_per_sample(model, 100), forward_flops_per_sample(model, 200)
    assert 0 < short < long < 2 * short + 1_000


def test_unknown_layer_is_an_error():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Embedding(10, 2), keras.layers.Conv1D(2, 2)])
    with pytest.raises(ValueError, match="Conv1D"):
        forward_flops_per_sample(model, 4)


# LSTM at the gpu preset's widths, maxlen 100, by the closed forms (the embedding stays 32 wide):
# params = 10,000*32 + 4*(u*(32+u) + u) + (u+1); forward FLOPs = 100*(8u(32+u) + 17u) + (2u+2).
LSTM_BY_UNITS = {
    32: (328_353, 100 * (8 * 32 * 64 + 17 * 32) + 66),
    128: (320_000 + 4 * (128 * 160 + 128) + 129, 100 * (8 * 128 * 160 + 17 * 128) + 258),
    512: (320_000 + 4 * (512 * 544 + 512) + 513, 100 * (8 * 512 * 544 + 17 * 512) + 1026),
}


@pytest.mark.parametrize("units", sorted(LSTM_BY_UNITS))
def test_units_axis_cells_build_models_whose_params_and_flops_follow_the_closed_form(units):
    from rnnbench.config.spec import SweepSpec

    (cell,) = SweepSpec(models=("lstm",), units=(units,), maxlen=(100,)).expand()
    assert cell.units == units
    model = create_model("lstm", maxlen=100, units=cell.units)
    params, flops = LSTM_BY_UNITS[units]
    assert model.count_params() == params
    assert forward_flops_per_sample(model, 100) == flops
