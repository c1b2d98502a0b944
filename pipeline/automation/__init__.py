"""Automation domain: the periodic refresh schedule, event sensors, alerts and backfills."""
