"""Runners: the local and Vertex AI orchestration of the pipeline, and the `taxi-pipeline` CLI."""
