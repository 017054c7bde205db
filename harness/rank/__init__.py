"""Rank: candidates, multi-seed runs, statistics, tables and the ranking's report."""
