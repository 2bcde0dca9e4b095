"""The model server: TF Serving's REST API as a Starlette app (app) on uvicorn with a guarded protocol
(protocol, server), its gRPC API (grpc_service), the loaded versions and their policy (model, settings),
request batching (batcher), request formats (requests), the sampled request log, Prometheus metrics,
explanations and rollback."""
