"""The phase 2 -> 3 quality gate: a Python API for the orchestrator, pytest rules and a CLI."""
