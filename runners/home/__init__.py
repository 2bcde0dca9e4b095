"""The home folder a run writes into: one run at a time (lock), clear storage errors, recovery after a
crash, the unchanged-rerun fast path, and the run's log file and progress lines."""
