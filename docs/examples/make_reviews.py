"""Writes docs/examples/reviews.csv: 1,200 generated product reviews in three classes, for the README's
worked example of ``--dataset FILE``. Generated, not collected: no real person's words, no licence.

Labels: 0 negative, 1 mixed, 2 positive. A review is 15-60 words of neutral filler with opinion words
of its class and, to keep it from being trivially separable, some of another class; mixed reviews hold
both kinds. The file has no ``split`` column, so the harness's own stratified split is what the example shows.

    python docs/examples/make_reviews.py   # rewrites the file; tests check it is what this script writes
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 2026
ROWS = 1200
FILLER = ("the", "a", "it", "this", "blender", "kettle", "lamp", "chair", "phone", "case", "arrived", "box", "with",
          "and", "after", "week", "day", "use", "my", "was", "is", "for", "kitchen", "desk", "price", "colour",
          "size", "delivery", "instructions", "parts", "battery", "cable", "still", "then", "also", "but", "i", "we")
POSITIVE = ("great", "love", "excellent", "sturdy", "perfect", "recommend", "happy", "works", "beautiful", "quiet")
NEGATIVE = ("broke", "terrible", "refund", "flimsy", "useless", "disappointed", "noisy", "returned", "cheap", "awful")
PUNCTUATION = ("", "", "", ",", ".", "!")


def review(rng: random.Random, label: int) -> str:
    n = rng.randint(15, 60)
    words = [rng.choice(FILLER) for _ in range(n)]
    own = {0: [NEGATIVE], 1: [NEGATIVE, POSITIVE], 2: [POSITIVE]}[label]
    for _ in range(rng.randint(2, 5)):
        for pool in own:
            words[rng.randrange(n)] = rng.choice(pool)
    if label != 1 and rng.random() < 0.5:  # one contrary word
        words[rng.randrange(n)] = rng.choice(POSITIVE if label == 0 else NEGATIVE)
    text = " ".join(w + rng.choice(PUNCTUATION) for w in words)
    return text[0].upper() + text[1:]


def rows() -> list[tuple[str, int]]:
    rng = random.Random(SEED)
    return [(review(rng, label), label) for label in (rng.randrange(3) for _ in range(ROWS))]


def write(path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["text", "label"])
        out.writerows(rows())


if __name__ == "__main__":
    write(Path(__file__).with_name("reviews.csv"))
