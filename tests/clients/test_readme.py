"""The README's first-hour path: ``make serve``, then its boto3 example run with ``.venv/bin/python``."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from environments import ROOT

README = (ROOT / "README.md").read_text()


def readme_python_block(after_heading: str) -> str:
    section = README.split(f"## {after_heading}\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python block under {after_heading!r}"
    return match.group(1)


def test_boto3_example_runs_against_a_served_cellstore_twice(client_endpoint: str) -> None:
    """Run as written (only the port differs), and again: the second run finds its table made."""
    example = readme_python_block("Talking to the server with boto3")
    assert "http://127.0.0.1:8000" in example
    example = example.replace("http://127.0.0.1:8000", client_endpoint)
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "{'id': {'S': 'ada'}, 'born': {'N': '1815'}}"


def test_make_serve_installs_boto3_into_the_venv() -> None:
    """``make serve``'s install step takes the extra that brings boto3, so ``.venv/bin/python`` has it."""
    makefile = (ROOT / "Makefile").read_text()
    serve_prerequisites = re.search(r"^serve:(.*)$", makefile, re.MULTILINE)
    assert serve_prerequisites is not None and ".make-install.stamp" in serve_prerequisites.group(1)
    recipe = re.search(r"^\.make-install\.stamp:.*\n\t(.*)$", makefile, re.MULTILINE)
    assert recipe is not None and "-e '.[embedded]'" in recipe.group(1)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("boto3") for requirement in extras["embedded"])
