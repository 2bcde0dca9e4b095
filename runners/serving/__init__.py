"""The model server: TF Serving's REST API over the serving dir (server), the loaded model (model),
request formats (requests), the sampled request log, Prometheus metrics, explanations and rollback."""
