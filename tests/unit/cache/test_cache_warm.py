"""Warming: ``cellstore cache warm`` fills a node restarted empty from the other zone, with progress shown."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from cellstore import cli
from cellstore.cache import CacheClient, CacheConfigError, Latch, command
from cellstore.cache.metadump import metadump
from cellstore.cache.warming import Warmer
from memcached_cluster import Memcached

KEYS = [f"w{i}" for i in range(400)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def fill(client: CacheClient) -> None:
    for i, key in enumerate(KEYS):
        client.set(key, key.encode() * (1 + i % 5), ttl=0 if i % 2 else 300, latch=Latch.ALL)
    client.set("big", b"B" * 3_000_000, latch=Latch.ALL)  # chunked: copied through its parent key


def toml(servers: dict[str, list[Memcached]], tmp_path: Path) -> Path:
    path = tmp_path / "cache.toml"
    path.write_text(
        "".join(
            f"[zones.{name}]\nservers = [{', '.join(repr(s.address) for s in zone)}]\n".replace("'", '"')
            for name, zone in servers.items()
        )
    )
    return path


def test_metadump_lists_every_key_with_its_expiry(client: CacheClient, servers: dict[str, list[Memcached]]) -> None:
    client.set("forever", b"v", latch=Latch.ALL)
    client.set("soon", b"v", ttl=100, latch=Latch.ALL)
    listed = dict(kv for server in servers["a"] for kv in metadump(client.zones["a"].nodes[server.address].server))
    assert listed["forever"] == 0
    assert 0 < listed["soon"] - time.time() <= 101


def test_warm_fills_a_node_restarted_empty(
    client: CacheClient, servers: dict[str, list[Memcached]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(client)
    emptied = servers["b"][0]
    emptied.restart_empty()
    zone_b = client.zones["b"]
    should_hold = [k for k in [*KEYS, "big"] if zone_b.node_for(k).name == emptied.address]
    assert should_hold and not zone_b.nodes[emptied.address].get_many(should_hold)

    status = cli.main(["cache", "warm", "--config", str(toml(servers, tmp_path)), "--zone", "b", "--from", "a"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "warming: " in out  # plain progress lines when stdout is not a terminal
    assert f"{len(should_hold)} copied" in out
    found, failed = zone_b.read_many([*KEYS, "big"])
    assert failed == [] and len(found) == len(KEYS) + 1
    assert found["big"].payload == b"B" * 3_000_000
    assert found["w0"].expiry > 0 and found["w1"].expiry == 0  # TTLs travel with the copy


def test_warm_never_overwrites_a_newer_value(client: CacheClient, servers: dict[str, list[Memcached]]) -> None:
    fill(client)
    client.zones["b"].write("w3", b"newer", 0)
    state = Warmer(client, "b", "a").run()
    assert state.present == len(KEYS) + 1 and state.copied == 0
    assert client.zones["b"].read("w3").payload == b"newer"  # type: ignore[union-attr]


def test_warm_one_node_at_a_limited_rate_with_a_progress_bar(
    client: CacheClient, servers: dict[str, list[Memcached]], tmp_path: Path
) -> None:
    fill(client)
    target = servers["b"][1]
    target.restart_empty()
    listed = sum(1 for _ in Warmer(client, "b", "a", nodes=[target.address]).listing())
    terminal = Terminal()
    args = cli._parser().parse_args(
        ["cache", "warm", "--config", str(toml(servers, tmp_path)), "--zone", "b", "--from", "a"]
        + ["--node", target.address, "--rate", "2000"]
    )
    started = time.monotonic()
    assert command.run_warm(args, out=terminal) == 0
    assert time.monotonic() - started >= listed / 2000 * 0.9  # the limit held
    shown = terminal.getvalue()
    assert "warming" in shown and f"{listed}/{listed}" in shown  # rich's bar, drawn on a terminal
    assert f"{listed} copied" in shown
    assert len(client.zones["b"].nodes[target.address].get_many(KEYS)) > 0
    zone_b = client.zones["b"]
    assert all(zone_b.node_for(k).name == target.address for k in Warmer(client, "b", "a", [target.address]).listing())


def test_bad_zones_are_refused(client: CacheClient) -> None:
    with pytest.raises(CacheConfigError, match="not one of"):
        Warmer(client, "z", "a")
    with pytest.raises(CacheConfigError, match="are the same"):
        Warmer(client, "a", "a")
    with pytest.raises(CacheConfigError, match="not nodes of zone"):
        Warmer(client, "b", "a", nodes=["10.9.9.9:1"])
