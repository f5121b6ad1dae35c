"""Firmware version. `anklet deploy` rewrites GIT with the deployed revision."""

MAJOR = 0
MINOR = 1
PATCH = 0
GIT = "source"
