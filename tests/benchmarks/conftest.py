"""pytest-benchmark suites (``tox -e bench``): step-level timing of every registry model.

Threads are pinned before TensorFlow runs its first op, as in the harness's cells, and machine info
gains the GPU and cuDNN version where present, so saved benchmarks say what they were measured on.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


#: Threads for the suites: one, like the seed preset's cells, unless RNNBENCH_BENCH_THREADS says otherwise.
#: With both of the 2-core machine's cores in use, other work stalls the parallel ops: in one overhead run
#: with two threads, 5 of 11 pairs came out at 0.52-0.62 (a 30-step LSTM fit taking up to 1.9x as long as
#: the fit beside it; a short script ran beside part of it), against 0.92-1.06 in the session before.
BENCH_THREADS = int(os.environ.get("RNNBENCH_BENCH_THREADS", "1"))


def pytest_configure(config):
    from rnnbench.cell.backend_setup import pin_threads

    pin_threads(os.environ.get("KERAS_BACKEND", "tensorflow"), BENCH_THREADS)


def pytest_benchmark_update_machine_info(config, machine_info):
    from rnnbench.storage import environment

    env = environment.collect()
    machine_info.update(
        threads=BENCH_THREADS, gpus=env["gpus"], cudnn=env["cudnn"], cpu_flags=env["cpu"]["flags"], usable_cores=env["cpu"]["usable_cores"],
        packages=env["packages"],
    )
