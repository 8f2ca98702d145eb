"""rnnbench's registry of recurrent architectures.

>>> from rnnbench.models import list_models, create_model
>>> list_models("lstm*")
['lstm', 'lstm_dropout']
"""

from rnnbench.models import architectures as _architectures  # noqa: F401  (registers the built-in entries)
from rnnbench.models.registry import KERNELS, ModelSpec, create_model, get_spec, list_models, register_model

__all__ = ["KERNELS", "ModelSpec", "create_model", "get_spec", "list_models", "register_model"]
