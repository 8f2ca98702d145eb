"""pytest-benchmark suites (``tox -e bench``): step-level timing of every registry model.

Threads are pinned before TensorFlow runs its first op, as in the harness's cells, and machine info
gains the GPU and cuDNN version where present, so saved benchmarks say what they were measured on.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config):
    from bench.executor import default_threads
    from bench.runner import pin_threads

    pin_threads(os.environ.get("KERAS_BACKEND", "tensorflow"), default_threads())


def pytest_benchmark_update_machine_info(config, machine_info):
    from bench import environment

    env = environment.collect()
    machine_info.update(
        gpus=env["gpus"], cudnn=env["cudnn"], cpu_flags=env["cpu"]["flags"], usable_cores=env["cpu"]["usable_cores"],
        packages=env["packages"],
    )
