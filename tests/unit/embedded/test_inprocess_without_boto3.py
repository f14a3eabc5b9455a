"""``in_process()`` where cellstore was installed without boto3: what to install, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"

# A child interpreter whose imports of boto3 and botocore fail, as where they were never installed.
SCRIPT = textwrap.dedent(
    """
    import sys

    class NoBoto:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("boto3", "botocore"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoBoto())
    from cellstore.embedded import in_process
    """
)


def test_in_process_without_boto3_says_what_to_install() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "ModuleNotFoundError: cellstore's in_process() answers boto3 calls and needs boto3: "
        "pip install 'cellstore[embedded]'"
    )
    assert "During handling of the above exception" not in result.stderr  # one error, not a chain of two
