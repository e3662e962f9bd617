"""Healing: the tracker, pattern detection, the stalled-batch clean-up job and the analysis CLI."""
