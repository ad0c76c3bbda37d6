"""Placeholder while the real plugin is written (keeps pytest start-up working)."""
