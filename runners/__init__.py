"""Where and how the pipeline runs, and everything a person does around it: the `taxi-pipeline` CLI.

Rooms, lowest layer first (tests/unit/test_layering.py enforces that imports only go down):
  errors, text, files, quiet, pipeline_args   exit codes, console text, whole-file writes, library
              chatter kept quiet, config -> create_pipeline
  store/      read-only readers of ML Metadata and the artifacts it points to
  home/       the home folder: its lock, storage errors, crash recovery, the fast path, logs
  serving/    the model server (TF Serving's REST API), its request log, metrics, explanations, rollback
  monitoring/ what production traffic says about the model (training/serving skew)
  reports/    documents for people: the run report, model cards, the console summary, KPIs
  preflight   the CSV check before TFX starts
  local, vertex   the two runners (LocalDagRunner; KubeflowV2DagRunner for Vertex AI)
  commands/   one module per command group, each adding its flags and handler
  cli         the parser; it imports a command's module only when that command runs
"""
