"""Showing results: the run report with its charts, terminal tables, history across runs and the
confidence intervals they print."""
