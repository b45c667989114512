"""Benchmarks, each run as a script from the repository root: ``python bench/<name>.py``."""
