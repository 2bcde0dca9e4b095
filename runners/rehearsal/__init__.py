"""The Vertex rehearsal: a compiled pipeline spec run on this machine task by task, the way Vertex AI Pipelines runs it.

`image` stands in for the pipeline image (the project's wheel installed into a folder of its own),
`metadata` for Vertex ML Metadata (the artifacts earlier tasks and runs produced, and the resolver
queries the spec names), and `job` walks the spec's DAG, building each task's executor input and
launching its container command through TFX's Vertex entrypoint.
"""

from runners.rehearsal.image import Image, build_image, project_source
from runners.rehearsal.job import RehearsalResult, TaskRun, rehearsal_config, rehearse

__all__ = ["Image", "RehearsalResult", "TaskRun", "build_image", "project_source", "rehearsal_config", "rehearse"]
