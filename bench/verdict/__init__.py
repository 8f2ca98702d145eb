"""Judging results: the thresholds, comparing two runs, the regression gate, same-machine A/B of two
commits, and the harness's own overhead check."""
