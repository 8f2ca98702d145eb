"""``rnnbench data``: list, describe and fetch data sets."""

from __future__ import annotations

import argparse

from rnnbench.cli.shared import EXIT_OK
from rnnbench.errors import BadInput

NAME = "data"
HELP = "data sets: list, info NAME|FILE, fetch NAME"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "info", "fetch"))
    p.add_argument("name", nargs="?", metavar="NAME|FILE", help="a data set's name, or (info) a .csv/.tsv/.jsonl file of labelled texts")
    p.add_argument("--text-column", default="text", metavar="NAME", help="info FILE: the text column (default: text)")
    p.add_argument("--label-column", default="label", metavar="NAME", help="info FILE: the label column (default: label)")
    p.add_argument("--data-path", metavar="FILE", help="imdb.npz to verify and read (fetch: no download)")
    p.add_argument("--allow-unverified-data", action="store_true")
    p.add_argument("--url", metavar="URL", help="fetch imdb: download from this URL, a mirror (default: $RNNBENCH_IMDB_URL, "
                                                "else Keras' own URL); the file must have the published sha256")
    p.add_argument("--dest", metavar="PATH", help="fetch imdb: where to put the file (default: $KERAS_HOME/datasets/imdb.npz, "
                                                  "where the reader looks); an existing file is never overwritten")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="fetch: seconds the connection may stay silent before the download fails (default 60)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from rnnbench import datasets
    from rnnbench.datasets import textfile
    from tabulate import tabulate

    if args.action == "list":
        rows = [[d.name, d.description, d.source, len(datasets.cached_entries(d.name))] for d in datasets.DATASETS.values()]
        print(tabulate(rows, headers=["name", "description", "source", "cached maxlens"], maxcolwidths=[None, 50, 50, None]))
        return EXIT_OK
    if not args.name:
        raise BadInput(f"'rnnbench data {args.action}' needs a data set name; known: {', '.join(datasets.DATASETS)}")
    if args.action == "info" and textfile.is_file_dataset(args.name):
        print("\n".join(textfile.summary(textfile.read(args.name, args.text_column, args.label_column))))
        return EXIT_OK
    info = datasets.check_name(args.name)
    if args.action == "info":
        print(f"{info.name}: {info.description}\nsource: {info.source}\ncache: {datasets.cache_dir()}")
        for path in datasets.cached_entries(info.name):
            print(f"  {path.relative_to(datasets.cache_dir())}  {path.stat().st_size / 2**20:.1f} MiB")
        if info.name == "synthetic":
            from rnnbench.datasets import synthetic

            print("accuracy ceiling (Bayes-optimal reader, test split) by maxlen:")
            data = synthetic.generate()
            for maxlen in (50, 100, 200, 500, 1000):
                print(f"  {maxlen:>5}: {synthetic.bayes_accuracy(datasets.pad_sequences(data.x_test, maxlen), data.word_llr):.4f}")
        return EXIT_OK
    data_path = args.data_path
    if info.name != "imdb" or data_path is not None:
        if args.url or args.dest:
            why = "a local file is verified, nothing is downloaded" if data_path is not None else f"{info.name} is not downloaded"
            raise BadInput(f"--url and --dest are for downloading imdb; {why}")
    else:
        from rnnbench.datasets import fetch

        dest = fetch.imdb_dest(args.dest)
        if args.allow_unverified_data and dest.is_file():
            data_path = dest  # the user's own file, read as --allow-unverified-data asks; nothing downloaded
        else:
            got = fetch.fetch_imdb(args.url, dest, timeout=args.timeout, progress=not args.quiet)
            if got.downloaded:
                print(f"{info.name}: downloaded to {got.path} ({got.size / 2**20:.1f} MiB, {got.size:,} bytes); "
                      f"sha256 matched the published {got.sha256}")
            else:
                print(f"{info.name}: {got.path} already present and verified (sha256 {got.sha256}); nothing downloaded")
            data_path = got.path
            if got.path.resolve() not in {c.resolve() for c in datasets.imdb.candidate_paths()}:
                print(f"note: 'rnnbench run' reads this file with --data-path {got.path} or RNNBENCH_IMDB_PATH={got.path}")
    data = datasets.padded(info.name, 500, data_path=data_path, allow_unverified=args.allow_unverified_data)
    print(f"{info.name}: ready ({len(data.x_train)} train / {len(data.x_test)} test reviews, fingerprint {data.fingerprint[:16]}); "
          f"cached in {datasets.cache_dir()}")
    return EXIT_OK
