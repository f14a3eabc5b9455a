"""Where each copy lives: zones, nodes, ports, and the synchronous quorum they imply.

Aurora's shape by default: three zones, two copies in each, a write durable
once four of the six copies have it.  On PostgreSQL a copy is a node (one
primary, the rest streaming replicas), and "four of six" is the primary's
own WAL flush plus ``ANY 3`` of the five replicas
(``synchronous_standby_names``), which Patroni's quorum mode keeps right
across failovers.  One etcd member per zone, so the consensus store loses a
zone exactly as the data does.
"""

from __future__ import annotations

import random
import socket
import string
from dataclasses import asdict, dataclass
from typing import Any

#: Ports are taken from here: below the ephemeral range (32768+), which is crowded.
PORT_RANGE = (20000, 32000)


class TopologyError(ValueError):
    """A zone/copy/ack combination that cannot give the promised durability."""


@dataclass(frozen=True)
class Node:
    """One copy of the data: a PostgreSQL server and the Patroni that runs it."""

    name: str
    zone: str
    port: int  # PostgreSQL
    api_port: int  # Patroni's REST API


@dataclass(frozen=True)
class EtcdMember:
    name: str
    zone: str
    client_port: int
    peer_port: int


@dataclass(frozen=True)
class Topology:
    zones: tuple[str, ...]
    nodes: tuple[Node, ...]
    etcd: tuple[EtcdMember, ...]
    ack: int  # copies (the primary's included) that hold a write before it is acknowledged

    @property
    def sync_replicas(self) -> int:
        """How many replicas must confirm each commit: ``ANY n`` in ``synchronous_standby_names``."""
        return self.ack - 1

    def storage_url(self, database: str = "postgres") -> str:
        """The multi-host URL cellstore is served from: libpq tries the hosts and keeps the primary."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write&connect_timeout=2"

    def to_json(self) -> dict[str, Any]:
        return {
            "zones": list(self.zones),
            "ack": self.ack,
            "nodes": [asdict(node) for node in self.nodes],
            "etcd": [asdict(member) for member in self.etcd],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Topology:
        return cls(
            zones=tuple(data["zones"]),
            ack=int(data["ack"]),
            nodes=tuple(Node(**node) for node in data["nodes"]),
            etcd=tuple(EtcdMember(**member) for member in data["etcd"]),
        )


def check(zones: int, copies_per_zone: int, ack: int) -> None:
    """Refuse shapes where an acknowledged write could be lost with one zone, or writes could never succeed."""
    copies = zones * copies_per_zone
    if zones < 1 or copies_per_zone < 1:
        raise TopologyError("--zones and --copies-per-zone must be at least 1")
    if zones > len(string.ascii_lowercase):
        raise TopologyError(f"at most {len(string.ascii_lowercase)} zones")
    if copies < 2:
        raise TopologyError("a quorum cell needs at least two copies")
    if not 2 <= ack <= copies:
        raise TopologyError(f"--ack must be between 2 and the number of copies ({copies})")


def plan(zones: int = 3, copies_per_zone: int = 2, ack: int = 4) -> Topology:
    """Name every node and etcd member and give each free loopback ports below 32768."""
    check(zones, copies_per_zone, ack)
    zone_names = tuple(f"zone-{string.ascii_lowercase[i]}" for i in range(zones))
    ports = free_ports(2 * zones * copies_per_zone + 2 * zones)
    nodes = []
    for zone in zone_names:
        for copy in range(1, copies_per_zone + 1):
            nodes.append(Node(f"{zone.removeprefix('zone-')}{copy}", zone, ports.pop(), ports.pop()))
    etcd = tuple(EtcdMember(f"etcd-{zone.removeprefix('zone-')}", zone, ports.pop(), ports.pop()) for zone in zone_names)
    return Topology(zones=zone_names, nodes=tuple(nodes), etcd=etcd, ack=ack)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nothing listens on right now (a later start may still race)."""
    rng = random.Random()
    found: set[int] = set()
    for _ in range(100 * count):
        if len(found) == count:
            break
        port = rng.randrange(*PORT_RANGE)
        if port in found:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.add(port)
    if len(found) < count:
        raise RuntimeError(f"not {count} free loopback ports in {PORT_RANGE[0]}-{PORT_RANGE[1]}")
    return sorted(found)
