"""A node's Patroni configuration: quorum commit, the timings, and a small PostgreSQL.

Written as JSON, which is YAML too, so no YAML library is needed here.

Timings (``bootstrap.dcs``, docs/QUORUM.md "Timings") are Patroni's minimum
``ttl`` (20 s: how long a dead primary keeps the leader key, so the bulk of
failover time) with a short ``loop_wait`` (1 s: how often each node looks at
the cluster) and ``retry_timeout`` 5 s.  A shorter ``ttl`` is not allowed by
Patroni; a shorter ``retry_timeout`` would demote a primary over a brief
etcd stall, trading availability, not safety.  Safety comes from quorum
mode itself: a replica is promoted only when enough nodes answer to be sure
the newest copy is among them, and ``synchronous_mode_strict`` keeps
``ANY n`` even when fewer replicas are up, so writes stop rather than being
acknowledged by fewer copies than promised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cellstore.quorum.topology import Node, Topology

#: Patroni's cluster name (its keys in etcd live under /cellstore/<scope>/).
SCOPE = "cellstore"
NAMESPACE = "/cellstore/"

TTL = 20
LOOP_WAIT = 1
RETRY_TIMEOUT = 5

#: Small on purpose: six servers share the machine with everything else.
POSTGRES_PARAMETERS: dict[str, Any] = {
    "shared_buffers": "16MB",
    "max_connections": 60,
    "max_wal_senders": 12,
    "max_replication_slots": 12,
    "wal_level": "replica",
    "wal_log_hints": "on",  # pg_rewind, so an old primary rejoins without a fresh copy
    "wal_keep_size": "64MB",
    "hot_standby": "on",
    "max_worker_processes": 4,
    "autovacuum_max_workers": 1,
    "work_mem": "2MB",
    "maintenance_work_mem": "16MB",
    "wal_buffers": "1MB",
    "full_page_writes": "on",
    "synchronous_commit": "on",  # a replica confirms once the WAL is flushed there
}


def config(topology: Topology, node: Node, node_dir: Path, bin_dir: Path, *, fsync: bool) -> dict[str, Any]:
    """The whole Patroni configuration of ``node``, whose files live in ``node_dir``."""
    parameters = {
        **POSTGRES_PARAMETERS,
        "fsync": "on" if fsync else "off",
        # The floor cellstore enforces (storage/pgsync.py): Patroni lowers ANY n when replicas die.
        "cellstore.min_sync_standbys": topology.sync_replicas,
    }
    return {
        "scope": SCOPE,
        "namespace": NAMESPACE,
        "name": node.name,
        "restapi": {"listen": f"127.0.0.1:{node.api_port}", "connect_address": f"127.0.0.1:{node.api_port}"},
        "etcd3": {"hosts": [f"127.0.0.1:{member.client_port}" for member in topology.etcd]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 16 * 1024 * 1024,
                "synchronous_mode": "quorum",
                "synchronous_mode_strict": True,
                "synchronous_node_count": topology.sync_replicas,
                "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": parameters},
            },
            "initdb": [{"encoding": "UTF8"}, {"auth": "trust"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{node.port}",
            "connect_address": f"127.0.0.1:{node.port}",
            "data_dir": str(node_dir / "data"),
            "bin_dir": str(bin_dir),
            "pgpass": str(node_dir / "pgpass"),
            "authentication": {
                "superuser": {"username": "postgres", "password": "postgres"},
                "replication": {"username": "replicator", "password": "replicator"},
                "rewind": {"username": "postgres", "password": "postgres"},
            },
            # cellstore.zone: where this node is, so a front end reads from its own zone's replicas.
            "parameters": {"unix_socket_directories": str(node_dir), "cellstore.zone": node.zone},
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 trust",
                "host replication all 127.0.0.1/32 trust",
            ],
        },
        "tags": {"zone": node.zone},
    }
