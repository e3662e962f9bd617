"""The shared library of the resilience suite: settings, warehouse access, canary engine, demo data."""
