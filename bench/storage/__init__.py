"""Results at rest: a cell's result and its columns, the run directory (atomic writes, locks, which
folders are ours) and the environment a run was measured in."""
