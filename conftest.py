"""Loads the suite's pytest plugins for every run from this repository (checks and the suite's own tests)."""

pytest_plugins = [
    "plugins.checks_plugin",
    "plugins.canary_plugin",
    "plugins.alerts_plugin",
    "plugins.html_report",
    "plugins.healing_fixtures",
]
