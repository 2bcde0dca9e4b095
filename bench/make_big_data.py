"""Makes larger taxi datasets with the same columns and distributions, in the span layout the pipeline reads.

Rows are drawn with replacement from a source CSV (default: the 15k-row taxi data.csv) and jittered:
fare, tips, trip_miles and trip_seconds are scaled by one shared factor near 1 (so the tip/fare
ratio, and the label, keep their distribution) and coordinates move by a few tens of metres. Empty
cells stay empty; categorical and time columns keep their values, so they stay consistent.

    .venv/bin/python bench/make_big_data.py --out /tmp/taxi-big --rows 15000 150000 1500000
    -> /tmp/taxi-big/rows-15000/span-1/data.csv, ...
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

SCALED = ("fare", "tips", "trip_miles", "trip_seconds")
COORDINATES = ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude")


def default_source() -> Path:
    """The reference's 15k-row CSV inside the installed tfx package."""
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    if spec is None or spec.origin is None:
        raise SystemExit("tfx is not installed here: pass --source")
    return Path(spec.origin).parent / "examples" / "chicago_taxi_pipeline" / "data" / "simple" / "data.csv"


def _jitter_row(row: dict[str, str], rng: random.Random) -> dict[str, str]:
    out = dict(row)
    factor = max(0.5, rng.gauss(1.0, 0.05))
    for name in SCALED:
        value = row.get(name, "")
        if value:
            scaled = float(value) * factor
            out[name] = str(round(scaled)) if name == "trip_seconds" else f"{scaled:.2f}"
    for name in COORDINATES:
        value = row.get(name, "")
        if value:
            out[name] = f"{float(value) + rng.gauss(0.0, 0.0005):.9f}"
    return out


def make(source: Path, rows: int, target: Path, seed: int = 0) -> Path:
    """Writes `rows` jittered rows drawn from source to target/span-1/data.csv and returns that path."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fieldnames = list(reader.fieldnames or [])
        pool = list(reader)
    rng = random.Random(seed)
    path = target / "span-1" / "data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        # The source rows themselves first, so the smallest size is the original data.
        for i in range(rows):
            row = pool[i] if i < len(pool) else _jitter_row(pool[rng.randrange(len(pool))], rng)
            writer.writerow(row)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write rows-<N>/span-1/data.csv under")
    parser.add_argument("--rows", type=int, nargs="+", default=[15000, 150000, 1500000])
    parser.add_argument("--source", type=Path, help="CSV to draw from (default: the taxi data.csv of tfx)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source = args.source or default_source()
    for rows in args.rows:
        started = time.monotonic()
        path = make(source, rows, args.out / f"rows-{rows}", args.seed)
        size = path.stat().st_size / 1e6
        print(f"{path}: {rows:,} rows, {size:.1f} MB in {time.monotonic() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
