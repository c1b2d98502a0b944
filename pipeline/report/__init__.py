"""Insight report domain: a static, self-contained HTML report of each published refresh."""
