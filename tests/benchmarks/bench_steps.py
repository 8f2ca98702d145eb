"""One training step and one inference step per registry model at the tutorial's shape.

Run with ``tox -e bench`` (saves with --benchmark-autosave; compare with
``tox -e bench -- --benchmark-compare --benchmark-compare-fail=median:10%``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from rnnbench.models import create_model, list_models
from rnnbench.models.flops import forward_flops_per_sample, train_flops_per_sample

MAXLEN = int(os.environ.get("RNNBENCH_BENCH_MAXLEN", 500))
BATCH = int(os.environ.get("RNNBENCH_BENCH_BATCH", 128))


def _batch():
    rng = np.random.default_rng(0)
    return rng.integers(1, 10_000, size=(BATCH, MAXLEN)).astype("int32"), rng.integers(0, 2, size=(BATCH, 1)).astype("float32")


def _compiled(name):
    import keras

    keras.utils.set_random_seed(0)
    model = create_model(name, maxlen=MAXLEN)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"], jit_compile=False)
    return model


def _info(benchmark, model, name):
    import keras

    benchmark.extra_info.update(
        model=name, kernel="generic", backend=keras.backend.backend(), maxlen=MAXLEN, batch_size=BATCH,
        params=model.count_params(), train_flops_per_sample=train_flops_per_sample(model, MAXLEN),
        infer_flops_per_sample=forward_flops_per_sample(model, MAXLEN),
    )


@pytest.mark.parametrize("name", list_models())
def test_train_step(benchmark, name):
    model = _compiled(name)
    x, y = _batch()
    model.train_on_batch(x, y)  # compile outside the timing
    _info(benchmark, model, name)
    benchmark.pedantic(lambda: model.train_on_batch(x, y), rounds=10, iterations=1, warmup_rounds=2)


@pytest.mark.parametrize("name", list_models())
def test_inference_step(benchmark, name):
    model = _compiled(name)
    x, _ = _batch()
    model.predict_on_batch(x)
    _info(benchmark, model, name)
    benchmark.pedantic(lambda: model.predict_on_batch(x), rounds=10, iterations=1, warmup_rounds=2)
