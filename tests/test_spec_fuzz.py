"""Property: whatever a sweep file holds, the parser returns a valid spec or one BadInput, nothing else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rnnbench.config.spec import SweepSpec
from rnnbench.config.sweep_file import from_toml
from rnnbench.errors import BadInput

KEYS = ["models", "kernels", "maxlen", "batch_size", "devices", "jit_compile", "backends", "seeds", "epochs",
        "dataset", "train_samples", "test_samples", "speed_target_s", "timeout_s", "modles", "x"]
scalars = st.one_of(
    st.integers(-5, 2_000), st.booleans(), st.floats(-1, 1e4, allow_nan=False),
    st.sampled_from(["lstm", "gru*", "cudnn", "generic", "cpu", "gpu:0", "tensorflow", "jax", "synthetic", "", "?"]),
    st.text(max_size=8),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        # TOML arrays may mix types since 1.0; json quoting is valid TOML basic-string quoting for these.
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def check(path):
    try:
        spec = from_toml(path)
    except BadInput as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(spec, SweepSpec)
    spec.expand()  # a valid spec always expands


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_structured_toml(tmp_path, table):
    f = tmp_path / "s.toml"
    f.write_text("\n".join(f"{k} = {toml_value(v)}" for k, v in table.items()), encoding="utf-8")
    check(f)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_arbitrary_bytes(tmp_path, data):
    f = tmp_path / "s.toml"
    f.write_bytes(data)
    check(f)
