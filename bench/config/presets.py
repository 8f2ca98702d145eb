"""Named sweeps. ``default`` is what a bare ``rnnbench run`` does.

Each preset states the question it answers; sizes were chosen from per-cell costs measured on a
2-core CPU machine (see README, "Presets").
"""

from __future__ import annotations

from rnnbench.config.spec import SweepSpec
from rnnbench.errors import BadInput

TUTORIAL_MODELS = ("simple_rnn", "stacked_simple_rnn", "lstm", "gru")

PRESETS: dict[str, tuple[str, SweepSpec]] = {
    "smoke": (
        "CI check: every registry model, generic kernel, maxlen 64, 2k-sample subsets, 1 epoch (~2 min on 2 cores)",
        SweepSpec(
            models=("*",), kernels=("generic",), maxlen=(64,), batch_size=(128,), epochs=1,
            train_samples=2000, test_samples=2000, speed_target_s=1.0, timeout_s=600,
        ),
    ),
    "seed": (
        "The tutorial's experiment: SimpleRNN, 4x SimpleRNN, LSTM, GRU at maxlen 500, batch 128, 10 epochs, 1 thread, 10 s of speed timing",
        # One thread: two threads stall whenever anything else wants a core, and the CV of these cells
        # was within 3% far more often on one (docs/measurement.md, "How steady the numbers are here"). The generic kernels train about
        # as fast on one thread as on two at this size. 10 s of timing: five 2 s repeats.
        SweepSpec(
            models=TUTORIAL_MODELS, kernels=("generic",), maxlen=(500,), batch_size=(128,), epochs=10,
            speed_target_s=10.0, timeout_s=3600, threads=1,
        ),
    ),
    "accuracy": (
        "Is one model more accurate than another beyond the seed-to-seed spread? The seed preset over five seeds "
        "(mean and 95% interval per model; 75-90 min on 2 cores)",
        # The seed preset's settings exactly, so its cells are the seed preset's for seed 0 and the
        # intervals answer the tutorial's own comparison. Five seeds: t(0.975, 4) = 2.78, against 12.7 for two.
        SweepSpec(
            models=TUTORIAL_MODELS, kernels=("generic",), maxlen=(500,), batch_size=(128,), epochs=10,
            speed_target_s=10.0, timeout_s=3600, threads=1, seeds=(0, 1, 2, 3, 4),
        ),
    ),
    "default": (
        "A first look at speed and accuracy: SimpleRNN, LSTM and GRU in a speed grid of kernel x device x batch x XLA at "
        "maxlen 100, and trained 8 epochs at maxlen 100 (seed 0) beside the accuracy ceiling, LSTM again with XLA "
        "(~5 min on 2 cores)",
        # Three parts in one run directory, on the same three cell types. Speed: kernel, device, batch and XLA
        # at maxlen 100, speed only (epochs 0), one seed (a cell's speed is already pooled over timed repeats).
        # Accuracy: the full synthetic set at maxlen 100, where the ceiling is 0.891 and LSTM and GRU leave the
        # 0.5 plateau between epochs 4 and 6 (measured: val 0.85 for both after 8 epochs; SimpleRNN overfits).
        # Then LSTM again with XLA (below). Sized for a first run of about 5 minutes here (docs/scale.md, "The
        # default preset's size"): in the previous default's 782 s run, a second seed cost 274 s and gave a 95%
        # interval of t(0.975, 1) = 12.7 standard errors; 4 x SimpleRNN (stuck at chance, the tutorial's
        # finding) 187 s for two seeds; the maxlen-200 speed cells 92 s. The tutorial's four models are the
        # seed preset, the seed spread the accuracy preset's question; fewer samples or a smaller batch made
        # SimpleRNN overfit at chance and cost more per epoch.
        SweepSpec(
            models=("simple_rnn", "lstm", "gru"), kernels=("generic", "cudnn"), devices=("cpu", "gpu"), maxlen=(100,),
            batch_size=(64, 256), jit_compile=(False, True), seeds=(0,), epochs=0,
            # Both parts on the whole data set, so that overriding the axes (say --models lstm --maxlen 64
            # --epochs 5 on your own file) makes them the same cells, run once, not twice on two sample counts.
            speed_target_s=1.5, timeout_s=900,
            parts=(
                {},  # the speed grid: the settings above
                {"kernels": ("generic",), "devices": ("cpu",), "maxlen": (100,),
                 "batch_size": (128,), "jit_compile": (False,), "seeds": (0,), "epochs": 8},
                # The fast-path check: LSTM's seed 0 trained again with XLA on, so that the report says whether
                # the XLA speedup of the speed grid trains the same model (one cell: a verdict on these two
                # trained models, paired on every test example).
                {"models": ("lstm",), "kernels": ("generic",), "devices": ("cpu",), "maxlen": (100,),
                 "batch_size": (128,), "jit_compile": (True,), "seeds": (0,), "epochs": 8},
            ),
        ),
    ),
    "regress": (
        "Regression gate: SimpleRNN, LSTM, GRU at maxlen 100, batch 32, 5 epochs on 4k samples, 1 thread, speed timed in 3 processes (~1.5 min)",
        # Batch 32 and 5 epochs: enough steps for the LSTM to leave the accuracy plateau (0.76 test, the
        # same in every run), so a lost point of accuracy is visible. One thread leaves a core to the
        # machine's background work. Three speed processes per cell: one process's throughput drifts
        # against another's by more than a 10-15% gate can absorb (docs/measurement.md, "Speed processes").
        SweepSpec(
            models=("simple_rnn", "lstm", "gru"), kernels=("generic",), maxlen=(100,), batch_size=(32,), epochs=5,
            train_samples=4000, test_samples=2000, speed_target_s=2.0, timeout_s=600, threads=1, processes=3,
        ),
    ),
    "gpu": (
        "GPU speed: LSTM and GRU x {generic, cudnn} x units {32, 128, 512} x maxlen {100, 500} x batch {64, 256, 1024} x XLA "
        "off/on, speed only; with --parallel N, one cell per GPU on N GPUs (~15 min on one H100-class GPU, estimated)",
        # At the tutorial's 32 units a GPU is launch-bound; published cuDNN/generic gains (about 4-7x for an
        # LSTM) appear at hundreds of units, hence the units axis. 144 cells, 36 of them skipped by the plan
        # (cuDNN with XLA on TensorFlow); 108 at ~8 s each (start-up, compile, 1 s of timed steps) is the
        # estimate above, not a measurement: no GPU has been lent to this project yet.
        SweepSpec(
            models=("lstm", "gru"), kernels=("generic", "cudnn"), units=(32, 128, 512), maxlen=(100, 500),
            batch_size=(64, 256, 1024), devices=("gpu",), jit_compile=(False, True), epochs=0,
            train_samples=8192, test_samples=4096, speed_target_s=1.0, timeout_s=600,
        ),
    ),
    "full": (
        "The whole card, speed only: every model x both kernels x maxlen 100-1000 x batch 32-512 x XLA off/on",
        SweepSpec(
            models=("*",), kernels=("generic", "cudnn"), maxlen=(100, 200, 500, 1000),
            batch_size=(32, 64, 128, 256, 512), devices=("cpu", "gpu"), jit_compile=(False, True), epochs=0,
            speed_target_s=2.0, timeout_s=1800,
        ),
    ),
}


def get_preset(name: str) -> SweepSpec:
    try:
        return PRESETS[name][1]
    except KeyError:
        raise BadInput(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
