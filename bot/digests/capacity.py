"""Filled in by the digests work (issue 11)."""
