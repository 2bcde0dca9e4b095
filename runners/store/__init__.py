"""Readers of a home's ML Metadata and of the artifacts it points to: runs, lineage, evaluations,
statistics, gate verdicts, feature importance. They open the store read-only and never print."""
