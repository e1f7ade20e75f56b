"""Metrics, statistics, plots, comparison reports and benchmark suites."""
