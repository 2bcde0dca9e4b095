"""`taxi-pipeline rehearse`: compiles the Vertex spec and runs it on this machine, task by task, as Vertex would."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pipeline.config import PipelineConfig
from runners.errors import EXIT_OK
from runners.rehearsal import build_image, project_source, rehearsal_config, rehearse
from runners.vertex import compile_pipeline, parse_params


def configure(parser: argparse.ArgumentParser, add_config_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Adds the flags of `rehearse`."""
    add_config_flags(parser)
    for action in parser._actions:  # argparse has no public way to reword a shared flag's help
        if action.dest == "profile":
            action.help = "config profile (default: $TAXI_PIPELINE_PROFILE or 'vertex')"
        elif action.dest == "home":
            action.help = "the gs:// home the spec names (mapped under --workdir; default: the profile's or a stand-in)"
    parser.add_argument(
        "--workdir",
        required=True,
        type=Path,
        help="the rehearsal's folder (stands in for the bucket and Vertex ML Metadata; reuse it for the next run)",
    )
    parser.add_argument(
        "--data-root", dest="rehearsal_data_root", help="local folder of span-<N>/ folders (the data_root parameter)"
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter, as for submit"
    )
    parser.add_argument("--train-steps", type=int, help="the most Trainer steps (the train_args parameter's default)")
    parser.add_argument("--window-spans", type=int, help="how many recent accepted spans to train on")
    parser.add_argument(
        "--isolated",
        action="store_true",
        help="a fresh process per step, as on Vertex (slower: each imports TensorFlow; default: one worker process)",
    )
    parser.add_argument(
        "--rebuild-image", action="store_true", help="build and install the wheel again (default: reuse the workdir's)"
    )
    parser.set_defaults(handler=_cmd_rehearse, default_profile="vertex")


def _cmd_rehearse(args: argparse.Namespace, config: PipelineConfig) -> int:
    workdir: Path = args.workdir.resolve()
    prepared = rehearsal_config(config)
    spec = workdir / "pipeline.json"
    workdir.mkdir(parents=True, exist_ok=True)
    compile_pipeline(prepared, str(spec))
    image = build_image(project_source(), workdir / "image", rebuild=args.rebuild_image)
    parameters = parse_params(args.param)
    if args.rehearsal_data_root:
        parameters["data_root"] = str(Path(args.rehearsal_data_root).resolve())
    print(f"taxi-pipeline: rehearsing {spec} with the wheel installed in {image.site}")
    result = rehearse(spec, workdir, image, parameters, isolated=args.isolated)
    for task in result.tasks:
        found = ", ".join(f"{key}: {len(artifacts)}" for key, artifacts in sorted(task.outputs.items()))
        print(f"  {task.name:<48} {task.kind:<9} {task.seconds:6.1f} s  {found}")
    print(f"taxi-pipeline: rehearsal {result.job_id} finished; artifacts under {result.pipeline_root}")
    return EXIT_OK
