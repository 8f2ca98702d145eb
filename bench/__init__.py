"""rnnbench's harness: data, sweep specs, isolated cell runs, measurement, result store, CLI."""
