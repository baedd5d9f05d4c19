"""The one exception type users see.

Anything a user can cause (a bad path, a missing field, an empty dataset, a
checkpoint from another config) raises `DmlpError` with a single line that
names the problem and the fix. The CLI prints that line and exits 2 instead of
showing a traceback; everything else is a bug and keeps its traceback.
"""


class DmlpError(Exception):
    """A user-facing error: one line, saying what is wrong and how to fix it."""
