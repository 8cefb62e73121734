"""Every ```python block of README.md runs on its own, in a fresh interpreter, with
fastrpca's ConvergenceWarning as an error (an example that stops short of its tolerance
is a broken example).

Each block must be self-contained: its own imports and its own data. It runs in a
temporary working directory, so a block that writes files leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Blocks known not to be self-contained, by the SHA-1 of their text (they fail as expected
# until rewritten; a rewritten block, another hash, runs as a plain test). All four of the
# layout commit's blocks were rewritten for issue 11.
NOT_SELF_CONTAINED: dict[str, str] = {}


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced block whose info string is ``python``."""
    blocks = []
    for match in re.finditer(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M):
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((line, match.group(1)))
    return blocks


def fingerprint(code: str) -> str:
    return hashlib.sha1(code.encode()).hexdigest()[:12]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def _cases():
    cases = []
    for line, code in BLOCKS:
        reason = NOT_SELF_CONTAINED.get(fingerprint(code))
        marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
        cases.append(pytest.param(code, id=f"README.md:{line}", marks=marks))
    return cases


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3
    assert python_blocks("text\n```python\nx = 1\n```\n```bash\nls\n```\n") == [(2, "x = 1\n")]


@pytest.mark.parametrize("code", _cases())
def test_readme_block_runs(code, tmp_path):
    env = dict(os.environ)
    # The repository's fastrpca, whatever the working directory.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    strict = (
        "import warnings, fastrpca\nwarnings.simplefilter('error', fastrpca.ConvergenceWarning)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", strict + code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"the block failed:\n{code}\n--- stderr ---\n{proc.stderr}"
