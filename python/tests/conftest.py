"""Test settings: keys go to a fresh folder per session (not the user's cache)."""

import os
import tempfile

os.environ.setdefault("ZKINFER_KEYS", tempfile.mkdtemp(prefix="zkinfer-pytest-keys-"))
