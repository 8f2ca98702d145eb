"""The tutorial's IMDB data, read offline from a file in the Keras ``imdb.npz`` format.

The stock ``keras.datasets.imdb.load_data`` downloads the file when absent and *deletes* a cached
file whose hash mismatches before downloading again. Neither is acceptable here: this reader never
downloads, never deletes or rewrites the user's file, and checks the published sha256 before the
pickled arrays are loaded (``np.load(allow_pickle=True)`` runs code from the file). A file with
another hash is refused unless the caller opts in explicitly (tests do, on small files they write).

After loading it applies the same transformation as Keras' loader (shuffle with seed 113, start token
1, word ids offset by 3, ids at or above ``num_words`` replaced by the out-of-vocabulary id 2), so
models see exactly what the tutorial's models saw.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from rnnbench.errors import BadInput

FILE_NAME = "imdb.npz"
#: sha256 of https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz as Keras publishes it.
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
NUM_WORDS = 10_000
START_CHAR, OOV_CHAR, INDEX_FROM, SHUFFLE_SEED = 1, 2, 3, 113
HOW_TO_GET = (
    "run 'rnnbench data fetch imdb' on a connected machine (it verifies the file and puts it in ~/.keras/datasets/) "
    "and copy the file here if this machine is offline, or pass its path with --data-path"
)


def candidate_paths() -> list[Path]:
    """Where the file is looked for, in order: $RNNBENCH_IMDB_PATH, then the Keras cache."""
    paths = []
    if os.environ.get("RNNBENCH_IMDB_PATH"):
        paths.append(Path(os.environ["RNNBENCH_IMDB_PATH"]).expanduser())
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    paths.append(keras_home / "datasets" / FILE_NAME)
    return paths


def locate(path: str | os.PathLike | None = None) -> Path:
    """The file to read: ``path`` if given, else the first candidate that exists; BadInput if none."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise BadInput(f"imdb data file {str(p)!r} does not exist; {HOW_TO_GET}")
        return p
    named = os.environ.get("RNNBENCH_IMDB_PATH")
    if named and not Path(named).expanduser().is_file():
        # Said and stopped: reading another file than the one named would measure other data in silence.
        raise BadInput(f"RNNBENCH_IMDB_PATH names {named!r}, which is not a file; {HOW_TO_GET}")
    for p in candidate_paths():
        if p.is_file():
            return p
    looked = ", ".join(str(p) for p in candidate_paths())
    raise BadInput(f"imdb data file not found (looked in {looked}); {HOW_TO_GET}")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, *, allow_unverified: bool = False) -> str:
    """Return the file's sha256; BadInput if it is not the published one and no opt-in was given."""
    return _checked(file_sha256(path), path, allow_unverified)


def _checked(digest: str, path: Path, allow_unverified: bool) -> str:
    if digest != SHA256 and not allow_unverified:
        raise BadInput(
            f"imdb data file {str(path)!r} has sha256 {digest[:16]}..., not the published {SHA256[:16]}...; "
            "refusing to unpickle it (the file was left untouched; pass --allow-unverified-data to read it anyway)"
        )
    return digest


def load(path: str | os.PathLike | None = None, *, allow_unverified: bool = False):
    """Return ``((x_train, y_train), (x_test, y_test), sha256)`` as ``keras.datasets.imdb`` would."""
    p = locate(path)
    # Hashed and loaded from the same bytes in memory: a file replaced between the check and the load
    # cannot slip past the check.
    data = p.read_bytes()
    digest = _checked(hashlib.sha256(data).hexdigest(), p, allow_unverified)
    try:
        with np.load(io.BytesIO(data), allow_pickle=True) as f:
            splits = [(f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])]
        out = []
        rng = np.random.RandomState(SHUFFLE_SEED)  # one stream for both splits, as Keras' loader does
        for xs, ys in splits:
            order = np.arange(len(xs))
            rng.shuffle(order)
            xs, ys = xs[order], np.asarray(ys)[order]
            mapped = np.empty(len(xs), dtype=object)
            mapped[:] = [
                [START_CHAR] + [int(w) + INDEX_FROM if int(w) + INDEX_FROM < NUM_WORDS else OOV_CHAR for w in x] for x in xs
            ]
            out.append((mapped, ys.astype(np.int64)))
    except Exception as exc:  # zip damage, missing keys, bad pickle, arrays of the wrong kind: "not an imdb.npz"
        raise BadInput(f"imdb data file {str(p)!r} is not a readable imdb.npz ({type(exc).__name__}: {exc})") from None
    return out[0], out[1], digest
