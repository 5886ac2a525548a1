"""Fenicia benchmarks. Not part of the application: see bench/README.md."""
