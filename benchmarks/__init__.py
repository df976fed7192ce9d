"""Benchmarks for sqstask: API calls per task, client-side overhead, cold start, heartbeat.

Run them all with ``make bench`` (``python -m benchmarks.run``); the results go to
``benchmarks/RESULTS.md``. Each measurement lives in its own module and takes its sizes as
arguments, so ``tests/test_benchmarks_smoke.py`` can run it once at a tiny size.
"""
