"""Helpers shared by more than one test module (import them; never copy them)."""
