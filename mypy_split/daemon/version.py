"""The daemon's version: what a client and a daemon compare before a `run` is answered.

Kept apart from the engine's modules: the client reads it on every `run`, and
importing the build machinery there would add a noticeable start-up cost to
each recheck an editor makes.
"""

from __future__ import annotations

import mypy.version

import mypy_split

# A daemon built from other code must not answer: `run` restarts it.
DAEMON_VERSION = f"{mypy_split.__version__}+mypy-{mypy.version.__version__}"
