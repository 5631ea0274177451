"""Test configuration: under CI, hypothesis draws the same examples every run, so a result is reproducible."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
