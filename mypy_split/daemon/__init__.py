"""`dmypy-split`: a daemon that keeps the program in memory between checks (see client.py)."""
