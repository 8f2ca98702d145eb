"""Analytic FLOP counts for the registry's layer types, per sample.

Conventions (the same for every architecture, so counts compare across them):

* a multiply-add is 2 FLOPs; an element-wise add, multiply or activation is 1 FLOP per element;
* the embedding is a lookup: 0 FLOPs;
* per time step, with input width ``d`` and ``u`` units:

  - SimpleRNN: ``W x`` and ``U h`` (2u(d+u)), adding them and the bias (2u), tanh (u)
    -> ``2u(d+u) + 3u``;
  - LSTM: four gates' ``W x`` and ``U h`` (8u(d+u)), their sum and bias (8u), three sigmoids and two
    tanh (5u), ``c = f*c + i*g`` (3u), ``h = o*tanh(c)`` (u) -> ``8u(d+u) + 17u``;
  - GRU (Keras' ``reset_after=True``): three gates' ``W x`` and ``U h`` (6u(d+u)), input and recurrent
    biases (6u), ``z, r`` = sigmoid(x part + h part) (2u adds, 2u sigmoids), candidate
    ``tanh(x part + r * h part)`` (3u), ``h = z*h + (1-z)*h~`` (4u) -> ``6u(d+u) + 17u``;
  - Bidirectional: twice the wrapped layer;

* Dense: ``2 d n`` for the matmul, ``n`` for the bias, ``n`` for the activation (none if linear);
* a training step is counted as 3x the forward pass (backward ~ 2x forward, the usual convention);
  the optimizer's update is not counted (it is per step, not per sample).

Every recurrent layer runs for all ``maxlen`` steps (padding included: the kernels do not skip it).
"""

from __future__ import annotations

from typing import Any

TRAIN_TO_FORWARD = 3


def _step_flops(cell_kind: str, d: int, u: int) -> int:
    if cell_kind == "SimpleRNN":
        return 2 * u * (d + u) + 3 * u
    if cell_kind == "LSTM":
        return 8 * u * (d + u) + 17 * u
    if cell_kind == "GRU":
        return 6 * u * (d + u) + 17 * u
    raise ValueError(f"no FLOP formula for recurrent layer {cell_kind}")


def forward_flops_per_sample(model: Any, maxlen: int) -> int:
    """FLOPs of one sample's forward pass through a built Keras model of the registry's shape."""
    total = 0
    width = None  # feature width flowing into the next layer
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind == "Embedding":
            width = layer.output_dim
        elif kind in ("SimpleRNN", "LSTM", "GRU"):
            total += maxlen * _step_flops(kind, width, layer.units)
            width = layer.units
        elif kind == "Bidirectional":
            inner = layer.forward_layer
            total += 2 * maxlen * _step_flops(type(inner).__name__, width, inner.units)
            width = 2 * inner.units
        elif kind == "Dense":
            activation = getattr(layer.activation, "__name__", "linear")
            total += 2 * width * layer.units + layer.units + (0 if activation == "linear" else layer.units)
            width = layer.units
        elif kind == "Dropout":
            continue
        else:
            raise ValueError(f"no FLOP formula for layer {kind}")
    return total


def train_flops_per_sample(model: Any, maxlen: int) -> int:
    return TRAIN_TO_FORWARD * forward_flops_per_sample(model, maxlen)
