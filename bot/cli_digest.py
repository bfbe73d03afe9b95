"""`perfbot digest`: filled in by the digests work (issue 11)."""
