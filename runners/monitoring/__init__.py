"""Watching the model in production: skew of logged requests, the pipeline's metrics textfile, the `watch` loop."""
