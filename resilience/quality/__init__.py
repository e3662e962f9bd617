"""Betting-line coverage and prediction-quality regression checks (the ``gate`` and ``smoke`` markers)."""
