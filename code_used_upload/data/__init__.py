"""Data: PTB-XL read (fast path, wfdb fallback, cache), the six tasks' labels, one task's preparation, synthetic PTB-XL."""
