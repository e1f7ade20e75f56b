"""Does a weight per class on a single-label run's probabilities (argmax of p x w), chosen on dev for macro-F1,
carry over to test? Reads the run's saved dev/test predictions; trains nothing.

    python benchmarks/dev_class_weights.py RUN_DIR

Coordinate ascent over a log-spaced grid (e^-1..e^1), three passes: a grid search is all this needs, and no
library fits a decision rule onto probabilities saved by another model. Used on the dair-emotion ensemble
(BENCHMARKS.md): dev rose, test did not, so no such rule is in the suites.
"""
import sys

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from emotune import runs as rd
from emotune.errors import EmotuneError


def main(run: str) -> None:
    dev, test = rd.load_predictions(run, "dev"), rd.load_predictions(run, "test")
    yd, yt = (np.asarray(p.y_true) for p in (dev, test))
    yd, yt = (y if y.ndim == 1 else y.argmax(1) for y in (yd, yt))
    sd, st = np.asarray(dev.scores), np.asarray(test.scores)

    def f1(s, y, w):
        return f1_score(y, (s * w).argmax(1), average="macro")

    w, grid = np.ones(sd.shape[1]), np.exp(np.linspace(-1, 1, 21))
    best = f1(sd, yd, w)
    for _ in range(3):
        for j in range(len(w)):
            for g in grid:
                trial = w.copy()
                trial[j] = g
                if (v := f1(sd, yd, trial)) > best + 1e-9:
                    w, best = trial, v
    one = np.ones_like(w)
    print("weights", np.round(w, 2))
    print(f"dev  macro-F1 {f1(sd, yd, one):.4f} -> {best:.4f}")
    print(f"test macro-F1 {f1(st, yt, one):.4f} -> {f1(st, yt, w):.4f}; accuracy "
          f"{accuracy_score(yt, st.argmax(1)):.4f} -> {accuracy_score(yt, (st * w).argmax(1)):.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/dev_class_weights.py RUN_DIR")
    try:
        main(sys.argv[1])
    except EmotuneError as exc:  # a missing or unfinished run directory: its message, no traceback
        sys.exit(f"error: {exc}")
