"""Benchmarks of datamgr against baselines; run `python -m benchmarks`."""
