"""A demo warehouse shaped like production's NBA pipeline tables, with injectable faults."""

from resilience.demo.builder import DEFAULT_DEMO_DATE, DemoBuild, build_demo, demo_is_current, read_build_info
from resilience.demo.faults import FAULTS, Fault

__all__ = [
    "DEFAULT_DEMO_DATE",
    "FAULTS",
    "DemoBuild",
    "Fault",
    "build_demo",
    "demo_is_current",
    "read_build_info",
]
