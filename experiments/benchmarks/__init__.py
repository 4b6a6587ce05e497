"""Benchmark scripts: each prints a table and records its results under ``results/``."""
