"""Child-side setup per Keras backend: thread pools, the device check, the framework's own memory peak.

Runs inside a cell's (or the calibration's) process, after the parent fixed ``KERAS_BACKEND``,
``CUDA_VISIBLE_DEVICES`` and the thread variables; each function imports only its own backend.
"""

from __future__ import annotations


def pin_threads(backend: str, threads: int, deterministic: bool = False) -> None:
    """Fix the framework's thread pools before any op runs (unpinned TensorFlow on 2 cores gives
    epoch times that swing 2x). ``deterministic`` turns on TensorFlow's op determinism, which Keras
    answers by silently disabling XLA: so it is only asked for cells without XLA."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)


def gpu_peak_mb(backend: str) -> float | None:
    """The framework's own peak of device memory on the cell's GPU, in MB: what its allocator handed out
    over the whole process (the ``gpu_peak_mb`` column, "framework peak"). Not the device's used memory,
    which also holds the CUDA context, libraries' workspaces and other processes: that is
    ``gpu_device_peak_mb``, from NVML (bench/cell/energy.py)."""
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    if backend == "jax":
        import jax

        stats = jax.devices("gpu")[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use", 0) / 2**20 or None
    if backend == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return None


def check_device(backend: str, device: str) -> None:
    """Fail loudly rather than measure a GPU cell on the CPU."""
    if device == "cpu":
        return
    if backend == "tensorflow":
        import tensorflow as tf

        ok = bool(tf.config.list_physical_devices("GPU"))
    elif backend == "jax":
        import jax

        ok = jax.default_backend() == "gpu"
    else:
        import torch

        ok = torch.cuda.is_available()
    if not ok:
        raise RuntimeError(f"{device} requested but {backend} sees no GPU in the cell process")
