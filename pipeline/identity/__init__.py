"""Identity resolution: one customer, one identity (splink linkage, clusters, golden records)."""
