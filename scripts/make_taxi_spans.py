"""Splits the Chicago-taxi sample shipped in the tfx wheel into yearly spans under data/taxi.

Run once by maintainers (the result is committed): `python scripts/make_taxi_spans.py`.
Span 1 holds 2013, span 2 2014, span 3 2015, span 4 2016, by trip_start_timestamp (UTC).
It also writes the small test fixture under tests/data/taxi-small from the same rows.
"""

from __future__ import annotations

import csv
import datetime
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_YEAR = 2013
FIXTURE_ROWS_PER_SPAN = 300


def source_csv() -> Path:
    """Finds data.csv of the taxi example inside the installed tfx package."""
    import tfx

    path = Path(tfx.__file__).parent / "examples" / "chicago_taxi_pipeline" / "data" / "simple" / "data.csv"
    if not path.exists():
        sys.exit(f"error: {path} not found; is tfx 1.16 installed in this environment?")
    return path


def write_span(folder: Path, header: list[str], rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "data.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    with source_csv().open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    ts_index = header.index("trip_start_timestamp")
    by_span: dict[int, list[list[str]]] = {}
    for row in rows:
        year = datetime.datetime.fromtimestamp(int(row[ts_index]), tz=datetime.timezone.utc).year
        by_span.setdefault(year - FIRST_YEAR + 1, []).append(row)
    for span, span_rows in sorted(by_span.items()):
        write_span(ROOT / "data" / "taxi" / f"span-{span}", header, span_rows)
        print(f"span-{span}: {len(span_rows)} rows")
    # The fixture: a fixed random sample of two spans, small enough for a fast end-to-end test.
    rng = random.Random(42)
    for span in (1, 2):
        sample = rng.sample(by_span[span], FIXTURE_ROWS_PER_SPAN)
        write_span(ROOT / "tests" / "data" / "taxi-small" / f"span-{span}", header, sample)
    print(f"fixture: 2 spans of {FIXTURE_ROWS_PER_SPAN} rows in tests/data/taxi-small")


if __name__ == "__main__":
    main()
