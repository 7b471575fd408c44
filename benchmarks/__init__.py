"""abortkit's benchmarks: ``python -m benchmarks`` (see ``__main__``). Not part of the test run.

Every figure in ``REPORT.md`` is read from the raw results of a run (``benchmarks/results/``);
baselines are measured in the same run as abortkit, on the same machine, so ratios mean
something even on a noisy machine.
"""
