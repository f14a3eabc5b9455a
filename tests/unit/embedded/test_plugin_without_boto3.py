"""cellstore's pytest plugin where cellstore was installed without boto3 (``pip install -e .``).

pytest imports every installed plugin in every run, so the plugin must load
without its optional dependency, leave unrelated tests alone, and explain
itself only in a test that asks for a fixture needing boto3.  The run happens
in a child interpreter whose imports of boto3 and botocore fail, as they do
in an environment that never installed them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

# A child interpreter without boto3: a meta-path finder refusing both packages,
# installed before pytest loads its plugins.
RUN_WITHOUT_BOTO3 = textwrap.dedent(
    """
    import sys

    class NoBoto:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("boto3", "botocore"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoBoto())
    import pytest
    sys.exit(pytest.main(sys.argv[1:]))
    """
)


def run_pytest(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(test_source))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_BOTO3, "-q", "-p", "no:cacheprovider", "-W", "default", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture(autouse=True)
def plugin_installed() -> None:
    """The plugin reaches pytest through its entry point, so cellstore must be installed."""
    from importlib.metadata import entry_points

    if not any(ep.value == "cellstore.embedded.pytest_plugin" for ep in entry_points(group="pytest11")):
        pytest.skip("cellstore is not installed (no pytest11 entry point); `make test` installs it")


def test_unrelated_tests_run(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "def test_arithmetic():\n    assert 1 + 1 == 2\n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output
    assert "Error while loading plugin" not in output and "botocore" not in output


def test_a_boto3_fixture_explains_itself(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path,
        """
        def test_uses_dynamodb(dynamodb_client):
            dynamodb_client.list_tables()

        def test_unrelated():
            pass
        """,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 passed, 1 error" in output
    assert "need boto3, which is not installed" in output
    assert "pip install 'cellstore[embedded]'" in output


def test_the_served_endpoint_needs_no_boto3(tmp_path: Path) -> None:
    """``cellstore_endpoint`` is for other clients (an SDK in another language, an HTTP call)."""
    result = run_pytest(
        tmp_path,
        """
        import json, urllib.request

        def test_list_tables(cellstore_endpoint):
            request = urllib.request.Request(cellstore_endpoint, data=b"{}", headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/dynamodb/aws4_request, "
                                 "SignedHeaders=host;x-amz-date, Signature=00",
                "X-Amz-Date": "20240101T000000Z",
            })
            with urllib.request.urlopen(request) as response:
                assert json.loads(response.read()) == {"TableNames": []}
        """,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output
