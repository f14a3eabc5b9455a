"""``cellstore quorum up|status|down DIR``: a thin shell over ``cluster``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellstore.quorum import cluster
from cellstore.quorum.topology import TopologyError

EXAMPLES = """examples:
  cellstore quorum up ./qcell                      # 3 zones x 2 copies, a write needs 4 of 6
  cellstore serve --storage "$(cat ./qcell/url)"     # up prints it last, and writes it there
  cellstore quorum status ./qcell
  cellstore quorum status --json ./qcell
  cellstore quorum restore ./qcell                 # start what crashed or was killed; it rejoins
  cellstore quorum down ./qcell"""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``quorum`` on the ``cellstore`` command's subparsers."""
    quorum = commands.add_parser(
        "quorum",
        help="run a local quorum-replicated PostgreSQL cell (etcd + Patroni)",
        description="Start, inspect or stop a local quorum cell: PostgreSQL nodes in zones under Patroni on etcd, "
        "each write acknowledged by --ack of the copies (docs/QUORUM.md). Needs etcd, PostgreSQL and "
        "Patroni installed (make quorum-tools).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quorum.add_argument(
        "action", choices=("up", "status", "restore", "down"), help="what to do (restore: start what is not running)"
    )
    quorum.add_argument("directory", type=Path, metavar="DIR", help="where the cell's data, logs and quorum.json live")
    quorum.add_argument("--zones", type=int, default=3, help="zones (default 3)")
    quorum.add_argument("--copies-per-zone", type=int, default=2, help="PostgreSQL nodes per zone (default 2)")
    quorum.add_argument("--ack", type=int, default=4, help="copies that must hold a write before it is acknowledged (default 4)")
    quorum.add_argument("--fsync", action="store_true", help="fsync WAL on every node (off by default: a local cell)")
    quorum.add_argument("--patroni", metavar="PATH", help="the patroni executable (default: beside python, then PATH)")
    quorum.add_argument("--json", action="store_true", help="status: print quorum.json with live roles as JSON")
    quorum.set_defaults(run=run, parser=quorum)


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            cell = cluster.up(
                args.directory,
                zones=args.zones,
                copies_per_zone=args.copies_per_zone,
                ack=args.ack,
                fsync=args.fsync,
                patroni_path=args.patroni,
            )
            for node in cell.topology.nodes:
                print(f"{node.name}  {node.zone}  {cell.roles.get(node.name, '?'):<15} port {node.port}")
            (args.directory / "url").write_text(cell.topology.storage_url() + "\n")
            print(cell.topology.storage_url())
        elif args.action == "status":
            state = cluster.status(args.directory)
            if args.json:
                print(json.dumps(state, indent=2))
            else:
                print("healthy" if state["healthy"] else "NOT healthy")
                for entry in state["nodes"]:
                    print(
                        f"{entry['name']}  {entry['zone']}  {entry['role']:<15} {entry['state']:<10} port {entry['port']}"
                        f"  patroni {entry['patroni_pid']}  postmaster {entry['postmaster_pid']}"
                    )
                for entry in state["etcd"]:
                    print(f"{entry['name']}  {entry['zone']}  etcd {entry['state']:<10} port {entry['port']}  pid {entry['pid']}")
                print(state["url"])
            return 0 if state["healthy"] else 1
        elif args.action == "restore":
            started = cluster.restore(args.directory)
            print(f"started {', '.join(started)}; healthy" if started else "everything was running; healthy")
        else:
            cluster.down(args.directory)
    except (cluster.QuorumError, TopologyError) as exc:
        print(f"cellstore quorum {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0
