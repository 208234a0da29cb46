"""Benchmarks: each reports ratios against anchors measured in the same run, and peak memory."""
