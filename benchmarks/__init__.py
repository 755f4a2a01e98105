"""picows benchmark suite: ``python -m benchmarks`` from the repository root.

See docs/topics/performance.rst for what is measured and why.
"""
