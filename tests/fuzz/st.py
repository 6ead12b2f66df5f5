"""Schemathesis's `st`, with one CPython 3.11 bug worked around.

Hypothesis names a filter's lambda by parsing its source with `ast`; on CPython 3.11 before
3.11.9 that parse can fail with "SystemError: AST constructor recursion depth mismatch"
(CPython gh-106905), which Schemathesis reports as an error of the run. The name is only for
display: such a lambda is named "lambda" instead. Run as `python -m tests.fuzz.st run ...`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hypothesis.internal import lambda_sources
from schemathesis.cli import schemathesis

_describe: Callable[[Any], str] = lambda_sources.lambda_description


def _lambda_description(f: Any) -> str:
    try:
        return _describe(f)
    except SystemError:
        return "lambda"


lambda_sources.lambda_description = _lambda_description

if __name__ == "__main__":
    sys.exit(schemathesis())
