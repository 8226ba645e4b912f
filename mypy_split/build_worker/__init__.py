"""The worker process: checks SCCs for a coordinator, over its stdin and stdout."""
