"""Benchmarks (``python -m benchmarks.run``) and fault drills (``benchmarks/drills``)."""
