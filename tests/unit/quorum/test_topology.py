"""The quorum cell's plan: Aurora's shape by default, ports below 32768, refusal of shapes that cannot work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellstore.quorum import patroni
from cellstore.quorum.topology import PORT_RANGE, Topology, TopologyError, plan


def test_the_default_is_six_copies_in_three_zones_with_four_to_acknowledge() -> None:
    topology = plan()
    assert topology.zones == ("zone-a", "zone-b", "zone-c")
    assert [(n.name, n.zone) for n in topology.nodes] == [
        ("a1", "zone-a"), ("a2", "zone-a"), ("b1", "zone-b"), ("b2", "zone-b"), ("c1", "zone-c"), ("c2", "zone-c"),
    ]
    assert topology.sync_replicas == 3  # the primary plus ANY 3 of the five replicas: four of six copies
    assert [m.zone for m in topology.etcd] == list(topology.zones)  # one consensus member per zone


def test_every_port_is_distinct_and_below_the_ephemeral_range() -> None:
    topology = plan(zones=2, copies_per_zone=3, ack=3)
    ports = [p for n in topology.nodes for p in (n.port, n.api_port)]
    ports += [p for m in topology.etcd for p in (m.client_port, m.peer_port)]
    assert len(ports) == len(set(ports)) == 2 * 6 + 2 * 2
    assert all(PORT_RANGE[0] <= p < PORT_RANGE[1] < 32768 for p in ports)


def test_the_storage_url_names_every_node_and_asks_for_the_primary() -> None:
    topology = plan()
    url = topology.storage_url()
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    assert url.count("127.0.0.1:") == 6
    assert "target_session_attrs=read-write" in url
    for node in topology.nodes:
        assert f"127.0.0.1:{node.port}" in url


def test_a_topology_survives_its_json() -> None:
    topology = plan()
    assert Topology.from_json(json.loads(json.dumps(topology.to_json()))) == topology


@pytest.mark.parametrize(
    ("zones", "copies", "ack", "message"),
    [
        (0, 2, 2, "at least 1"),
        (1, 1, 1, "at least two copies"),
        (3, 2, 7, "between 2 and the number of copies"),
        (3, 2, 1, "between 2 and the number of copies"),
    ],
)
def test_impossible_shapes_are_refused(zones: int, copies: int, ack: int, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        plan(zones, copies, ack)


def test_patroni_keeps_quorum_commit_strict_across_failovers(tmp_path: Path) -> None:
    topology = plan()
    node = topology.nodes[2]
    config = patroni.config(topology, node, tmp_path / node.name, Path("/usr/lib/postgresql/15/bin"), fsync=False)
    dcs = config["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] == "quorum"
    assert dcs["synchronous_mode_strict"] is True  # never fewer copies than promised: writes stop instead
    assert dcs["synchronous_node_count"] == 3
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]  # Patroni's own rule, else it adjusts them
    assert config["postgresql"]["listen"] == f"127.0.0.1:{node.port}"
    assert config["tags"] == {"zone": node.zone}
    assert config["etcd3"]["hosts"] == [f"127.0.0.1:{m.client_port}" for m in topology.etcd]
    assert dcs["postgresql"]["parameters"]["shared_buffers"] == "16MB"
