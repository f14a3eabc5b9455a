"""cache.toml: zones in file order, settings checked, bad files refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellstore.cache import CacheConfigError, Latch, load_config
from cellstore.cache.config import Server


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cache.toml"
    path.write_text(text)
    return path


def test_the_minimal_file_from_the_issue(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[zones.a]\nservers = ["127.0.0.1:11211", "127.0.0.1:11212"]\n'
            '[zones.b]\nservers = ["127.0.0.1:11213", "127.0.0.1:11214"]\n',
        ),
        zone="b",
    )
    assert list(config.zones) == ["a", "b"]
    assert config.zones["a"] == (Server("127.0.0.1", 11211), Server("127.0.0.1", 11212))
    assert config.zone == "b"
    assert config.latch is Latch.ONE


def test_settings_and_a_relative_retry_queue(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            'zone = "a"\nlatch = "quorum"\ntimeout = 0.05\nchunk_size = 4096\nretry_queue = "retry.db"\n'
            'auto_warm = true\nwarm_rate = 500\n[zones.a]\nservers = ["h:1"]\n',
        )
    )
    assert (config.zone, config.latch, config.timeout, config.chunk_size) == ("a", Latch.QUORUM, 0.05, 4096)
    assert (config.auto_warm, config.warm_rate) == (True, 500.0)
    assert config.retry_queue == tmp_path / "retry.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [zones.NAME] table"),
        ('[zones.a]\nservers = ["nohost"]\n', "is not host:port"),
        ("[zones.a]\nservers = []\n", "has no servers"),
        ('zone = "z"\n[zones.a]\nservers = ["h:1"]\n', "is not one of"),
        ('latch = "some"\n[zones.a]\nservers = ["h:1"]\n', "latch must be one of"),
        ('timeout = -1\n[zones.a]\nservers = ["h:1"]\n', "timeout must be a positive number"),
        ("[zones.a\n", "cannot read"),
        ('auto_warm = "yes"\n[zones.a]\nservers = ["h:1"]\n', "auto_warm must be true or false"),
        ('timout = 1\n[zones.a]\nservers = ["h:1"]\n', "unknown setting"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CacheConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text))
