"""Deterministic demo data generator: landing files with realistic behaviour, duplicates,
look-alikes and injected faults, plus the hidden ground truth (see docs/demo_data.md)."""

from pipeline.demo.generator import DemoSummary, generate_demo

__all__ = ["DemoSummary", "generate_demo", "main"]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (`python -m pipeline.demo`); see `pipeline.demo.cli`."""
    from pipeline.demo.cli import main as cli_main

    return cli_main(argv)
