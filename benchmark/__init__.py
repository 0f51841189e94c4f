"""The harness: runner, metrics, features, profiling, reports and the CI gate."""

__version__ = "0.1.0"
