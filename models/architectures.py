"""Builders for the registered architectures.

Every model is the tutorial's shape: ``Embedding(vocab_size, embed_dim)`` -> recurrent body -> a head:
``Dense(1, sigmoid)`` for two classes (the tutorial's), ``Dense(num_classes, softmax)`` for more. Defaults
equal the tutorial's (10,000 words, 32-dim embedding, 32 units, 2 classes), so parameter counts match it:
simple_rnn 322,113, stacked_simple_rnn 328,353, lstm 328,353, gru 326,369. A user's data set overrides
``vocab_size`` and ``num_classes`` (bench/datasets/textfile.py), and the parameter counts follow.
Keras is imported inside the builders so that importing the registry stays cheap.
"""

from __future__ import annotations

from typing import Any

from rnnbench.models.registry import register_model

_TUTORIAL = {"vocab_size": 10_000, "embed_dim": 32, "units": 32, "num_classes": 2}
_RECURRENT_KERNELS = ("generic", "cudnn")


def _use_cudnn(kernel: str) -> bool:
    # Explicit True/False, never Keras' "auto": a cuDNN cell must fail loudly without a GPU.
    return kernel == "cudnn"


def _wrap(body: list[Any], *, maxlen: int | None, vocab_size: int, embed_dim: int, num_classes: int, name: str) -> Any:
    import keras
    from keras import layers

    if num_classes < 2:
        raise ValueError(f"num_classes must be 2 or more, got {num_classes}")
    # Two classes: one sigmoid unit (binary cross-entropy), as the tutorial; more: a softmax over them.
    head = layers.Dense(1, activation="sigmoid") if num_classes == 2 else layers.Dense(num_classes, activation="softmax")
    return keras.Sequential(
        [
            keras.Input(shape=(maxlen,), dtype="int32"),
            layers.Embedding(vocab_size, embed_dim),
            *body,
            head,
        ],
        name=name,
    )


@register_model("simple_rnn", arch="SimpleRNN", description="Tutorial baseline: one SimpleRNN(32) layer", **_TUTORIAL)
def simple_rnn(*, kernel: str, maxlen: int | None, units: int, **shape: Any) -> Any:
    from keras import layers

    return _wrap([layers.SimpleRNN(units)], maxlen=maxlen, name="simple_rnn", **shape)


@register_model(
    "stacked_simple_rnn",
    arch="SimpleRNN",
    description="Tutorial's deeper variant: four stacked SimpleRNN(32) layers",
    depth=4,
    **_TUTORIAL,
)
def stacked_simple_rnn(*, kernel: str, maxlen: int | None, units: int, depth: int, **shape: Any) -> Any:
    from keras import layers

    body = [layers.SimpleRNN(units, return_sequences=i < depth - 1) for i in range(depth)]
    return _wrap(body, maxlen=maxlen, name="stacked_simple_rnn", **shape)


@register_model(
    "lstm", arch="LSTM", kernels=_RECURRENT_KERNELS, description="Tutorial's LSTM(32)", **_TUTORIAL
)
def lstm(*, kernel: str, maxlen: int | None, units: int, **shape: Any) -> Any:
    from keras import layers

    return _wrap([layers.LSTM(units, use_cudnn=_use_cudnn(kernel))], maxlen=maxlen, name="lstm", **shape)


@register_model(
    "gru", arch="GRU", kernels=_RECURRENT_KERNELS, description="GRU(32), the tutorial's suggested next step", **_TUTORIAL
)
def gru(*, kernel: str, maxlen: int | None, units: int, **shape: Any) -> Any:
    from keras import layers

    return _wrap([layers.GRU(units, use_cudnn=_use_cudnn(kernel))], maxlen=maxlen, name="gru", **shape)


@register_model(
    "bidirectional_lstm",
    arch="LSTM",
    kernels=_RECURRENT_KERNELS,
    description="Bidirectional(LSTM(32)): reads the review both ways",
    **_TUTORIAL,
)
def bidirectional_lstm(*, kernel: str, maxlen: int | None, units: int, **shape: Any) -> Any:
    from keras import layers

    body = [layers.Bidirectional(layers.LSTM(units, use_cudnn=_use_cudnn(kernel)))]
    return _wrap(body, maxlen=maxlen, name="bidirectional_lstm", **shape)


@register_model(
    "lstm_dropout",
    arch="LSTM",
    kernels=_RECURRENT_KERNELS,
    description="LSTM(32) with dropout and recurrent_dropout 0.2: the tutorial's 'prevent overfitting'",
    unsupported={"cudnn": "recurrent_dropout has no cuDNN implementation"},
    dropout=0.2,
    recurrent_dropout=0.2,
    **_TUTORIAL,
)
def lstm_dropout(*, kernel: str, maxlen: int | None, units: int, dropout: float, recurrent_dropout: float, **shape: Any) -> Any:
    from keras import layers

    layer = layers.LSTM(units, dropout=dropout, recurrent_dropout=recurrent_dropout, use_cudnn=_use_cudnn(kernel))
    return _wrap([layer], maxlen=maxlen, name="lstm_dropout", **shape)
