"""Data plane at scale: rows/s and peak memory of ExampleGen, StatisticsGen and Transform per data size.

For each size (made by bench/make_big_data.py), runs our ExampleGen -> StatisticsGen -> Transform
(the same components, schema, split and preprocessing_fn as the pipeline, with the Beam options the
local runner would choose for that input, or --beam-mode) in a fresh process under LocalDagRunner,
and a plain pyarrow.csv.read_csv of the same file as the floor. Component times come from ML
Metadata; peak memory is that of the whole process tree (Beam workers included) while each
component ran.

    .venv/bin/python bench/data_plane.py --quick    # 15k and 150k rows
    .venv/bin/python bench/data_plane.py            # 15k, 150k and 1.5M rows
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MemorySampler, component_durations, fmt_table, machine, run_measured

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = ("example_gen", "statistics_gen", "transform")
# Seconds per 1k rows on 2 quiet cores, for the "this will take" estimate (pipeline + floor).
EST_S_PER_KROW = 0.6
EST_FIXED_S = 60


def child(csv_dir: Path, home: Path, beam_mode: str) -> None:
    """Runs ExampleGen, StatisticsGen and Transform on csv_dir/span-1 in this process."""
    sys.path.insert(0, str(REPO))
    from tfx.components import CsvExampleGen, StatisticsGen
    from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.metadata import sqlite_metadata_connection_config
    from tfx.orchestration.pipeline import Pipeline

    from pipeline.config import load_config
    from pipeline.pipeline import make_transform, span_input_config, split_output_config
    from runners.local import beam_args_for, no_tfx_package_staging, span_bytes

    config = load_config(profile="local", environ={})
    if beam_mode == "auto":
        beam_args = beam_args_for(config.beam_args, span_bytes([csv_dir / "span-1"]), os.cpu_count())
    elif beam_mode == "in_memory":
        beam_args = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    else:
        beam_args = ("--direct_running_mode=multi_processing", f"--direct_num_workers={os.cpu_count()}")
    print(f"beam args: {' '.join(beam_args)}", flush=True)
    # The pipeline's own split and Transform settings.
    example_gen = CsvExampleGen(
        input_base=str(csv_dir),
        input_config=span_input_config(),
        output_config=split_output_config(),
    ).with_id("example_gen")
    schema = ImportSchemaGen(schema_file=config.schema_path).with_id("schema_importer")
    statistics = StatisticsGen(examples=example_gen.outputs["examples"], schema=schema.outputs["schema"]).with_id(
        "statistics_gen"
    )
    transform = make_transform(example_gen.outputs["examples"], schema.outputs["schema"])
    # StatisticsGen before Transform, as in the pipeline, so their times do not overlap.
    transform.add_upstream_node(statistics)
    pipeline = Pipeline(
        pipeline_name="data_plane",
        pipeline_root=str(home / "pipeline_root"),
        components=[example_gen, schema, statistics, transform],
        enable_cache=False,
        metadata_connection_config=sqlite_metadata_connection_config(str(home / "metadata.db")),
        beam_pipeline_args=list(beam_args),
    )
    with no_tfx_package_staging():
        LocalDagRunner().run(pipeline)


def pyarrow_floor(csv: Path) -> dict[str, Any]:
    """Wall time of pyarrow.csv.read_csv on the file (in a fresh process) and that process's peak memory."""
    code = (
        "import sys,time,pyarrow.csv as c;t=time.monotonic();n=c.read_csv(sys.argv[1]).num_rows;"
        "print(n, time.monotonic()-t)"
    )
    out = Path(tempfile.mkstemp(suffix=".txt")[1])
    result = run_measured([sys.executable, "-c", code, str(csv)], log=out)
    rows, seconds = out.read_text().split()[-2:]
    out.unlink()
    return {"rows": int(rows), "seconds": float(seconds), "peak_mb": result["peak_mb"]}


def measure(csv_dir: Path, work: Path, beam_mode: str) -> dict[str, Any]:
    import subprocess

    home = work / f"home-{csv_dir.name}-{beam_mode}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log = home / "run.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(csv_dir), str(home), beam_mode]
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=str(REPO), stdout=out, stderr=out)
        with MemorySampler(process.pid) as sampler:
            rc = process.wait()
    wall = time.monotonic() - started
    if rc != 0:
        raise SystemExit(f"the data-plane run on {csv_dir} failed (exit {rc}); see {log}")
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(home / "metadata.db")
    store = metadata_store.MetadataStore(config)
    durations = component_durations(home / "metadata.db")
    peaks = {}
    for execution in store.get_executions():
        for context in store.get_contexts_by_execution(execution.id):
            node = context.name.split(".", 1)[-1]
            if node in COMPONENTS:
                peaks[node] = sampler.peak_between(
                    execution.create_time_since_epoch / 1000, execution.last_update_time_since_epoch / 1000
                )
    beam = next((line for line in log.read_text().splitlines() if line.startswith("beam args:")), "")
    return {
        "wall_s": wall,
        "peak_mb": sampler.peak_mb,
        "beam": beam.removeprefix("beam args: "),
        "components": {c: {**durations.get(c, {}), "peak_mb": peaks.get(c, 0.0)} for c in COMPONENTS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[15000, 150000, 1500000])
    parser.add_argument("--quick", action="store_true", help="15k and 150k rows only")
    parser.add_argument("--data", type=Path, help="folder of rows-<N>/ datasets (made here when missing)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp folder, deleted)")
    parser.add_argument(
        "--beam-mode",
        nargs="+",
        default=["auto"],
        choices=["auto", "in_memory", "multi_processing"],
        help="DirectRunner mode(s) to measure; auto is what the local runner picks",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    sizes = [15000, 150000] if args.quick else args.rows
    estimate = sum(EST_FIXED_S + EST_S_PER_KROW * n / 1000 for n in sizes) * len(args.beam_mode)
    print(f"machine: {machine()}")
    print(f"sizes: {', '.join(f'{n:,}' for n in sizes)} rows; expect about {estimate / 60:.0f} min on 2 idle cores")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-data-"))
    data = args.data or work / "data"
    results: list[dict[str, Any]] = []
    try:
        from make_big_data import default_source, make

        for rows in sizes:
            csv_dir = data / f"rows-{rows}"
            csv = csv_dir / "span-1" / "data.csv"
            if not csv.exists():
                make(default_source(), rows, csv_dir)
            floor = pyarrow_floor(csv)
            for mode in args.beam_mode:
                print(f"  {rows:,} rows, beam {mode} ...", end="", flush=True)
                result = {"rows": floor["rows"], "mb": csv.stat().st_size / 1e6, "mode": mode, "floor": floor}
                result.update(measure(csv_dir, work, mode))
                results.append(result)
                print(f" {result['wall_s']:.0f}s, peak {result['peak_mb']:.0f} MiB", flush=True)
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        floor_rate = r["rows"] / r["floor"]["seconds"]
        rows.append(
            [
                f"{r['rows']:,} ({r['mb']:.0f} MB)",
                "pyarrow read_csv (floor)",
                r["floor"]["seconds"],
                f"{floor_rate:,.0f}",
                "1.0x",
                f"{r['floor']['peak_mb']:.0f}",
            ]
        )
        for name in COMPONENTS:
            comp = r["components"][name]
            seconds = comp.get("seconds", float("nan"))
            rate = r["rows"] / seconds if seconds else float("nan")
            rows.append(
                [
                    "",
                    f"{name} ({r['beam']})",
                    seconds,
                    f"{rate:,.0f}",
                    f"{floor_rate / rate:.0f}x",
                    f"{comp['peak_mb']:.0f}",
                ]
            )
    print()
    print(fmt_table(["rows", "step", "seconds", "rows/s", "slower than floor", "peak MiB"], rows))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
        sys.exit(0)
    started = time.monotonic()
    code = main()
    print(f"\nbench took {time.monotonic() - started:.0f}s")
    sys.exit(code)
