"""Regenerate BENCHMARKS.md's suite tables from benchmarks/results/*.json (one command, no typed numbers).

    python benchmarks/tables.py            # rewrite the generated block of BENCHMARKS.md
    python benchmarks/tables.py --check    # exit 1 when BENCHMARKS.md is not what the JSON files say
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from emotune.experiments.results import update_markdown

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that BENCHMARKS.md is up to date")
    args = ap.parse_args()
    md, results = ROOT / "BENCHMARKS.md", ROOT / "benchmarks" / "results"
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "BENCHMARKS.md"
            shutil.copy(md, copy)
            stale = update_markdown(copy, results)
        print("BENCHMARKS.md is out of date: run python benchmarks/tables.py" if stale else "BENCHMARKS.md is up to date")
        return 1 if stale else 0
    print("BENCHMARKS.md updated" if update_markdown(md, results) else "BENCHMARKS.md already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
