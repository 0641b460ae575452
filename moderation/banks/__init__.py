"""Known-content hash banks: PDQ / MD5 / SHA-256 entries matched before the model runs."""
