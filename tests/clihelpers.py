"""Assertions for the `anklet` command's error paths."""

from __future__ import annotations

import re
from typing import Any


def assert_one_line_error(result: Any, *patterns: str) -> None:
    """Exit code 2, no traceback, exactly one `error: ` line matching every regex pattern."""
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    for pattern in patterns:
        assert re.search(pattern, errors[0]), f"{pattern!r} not in {errors[0]!r}"
