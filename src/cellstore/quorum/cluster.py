"""Running a local quorum cell: start etcd and Patroni, wait for health, report, restore, stop (and kill, for tests).

Everything lives under one directory::

    DIR/quorum.json            the topology, the URL and, per node, role and PIDs
    DIR/etcd/<member>/         an etcd member's data; <member>.log beside it
    DIR/nodes/<node>/          a node's patroni.json, patroni.log, pgpass and data/

Patroni runs PostgreSQL, which refuses to run as root: as root, Patroni runs
as the ``postgres`` user (the ``user=`` of ``subprocess.Popen``, so the PID
recorded is Patroni's own, not a wrapper's).  Processes start in their own
sessions, so they outlive ``cellstore quorum up``; ``down`` stops them.
Nothing is installed here: etcd, PostgreSQL and Patroni must already be
(``make quorum-tools``; docs/QUORUM.md).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellstore.quorum import patroni
from cellstore.quorum.topology import EtcdMember, Node, Topology, plan

STATE_FILE = "quorum.json"
#: The user PostgreSQL (and so Patroni) runs as when we are root.
POSTGRES_USER = "postgres"


class QuorumError(RuntimeError):
    """The cell could not be started, found or stopped; the message says what to do."""


@dataclass(frozen=True)
class Tools:
    """The executables a cell needs, found before anything starts."""

    etcd: Path
    patroni: Path
    postgres_bin: Path

    @classmethod
    def find(cls, patroni_path: str | None = None) -> Tools:
        etcd = shutil.which("etcd")
        if etcd is None:
            raise QuorumError("etcd is not installed: apt-get install etcd-server (or make quorum-tools)")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
        if not found:
            raise QuorumError("PostgreSQL is not installed: apt-get install postgresql (or make quorum-tools)")
        candidates = [patroni_path or os.environ.get("CELLSTORE_PATRONI"), str(Path(".quorum-venv/bin/patroni").resolve())]
        candidates += [str(Path(sys.executable).parent / "patroni"), shutil.which("patroni")]
        for candidate in candidates:
            if candidate and Path(candidate).exists() and _runs_as_postgres(candidate):
                return cls(Path(etcd), Path(candidate), Path(found[-1]).parent)
        raise QuorumError(
            "Patroni (4.x, with etcd3 support) was not found where the postgres user can run it: "
            "make quorum-tools, or pass --patroni PATH / set CELLSTORE_PATRONI"
        )


def _as_postgres() -> dict[str, Any]:
    """``Popen`` arguments that run a child as the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": POSTGRES_USER, "group": POSTGRES_USER, "extra_groups": []}


def _runs_as_postgres(executable: str) -> bool:
    try:
        result = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=30, check=False, **_as_postgres()
        )
    except OSError:
        return False
    return result.returncode == 0 and "patroni" in result.stdout.lower()


# Children started by this process: polled so that a killed one is reaped, not a zombie that looks alive.
_children: dict[int, subprocess.Popen[bytes]] = {}


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _spawn(argv: list[str], log: Path, cwd: Path, **extra: Any) -> int:
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True, **extra
        )
    _children[child.pid] = child
    return child.pid


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback URLs built here
        return json.loads(response.read())


class Cell:
    """A quorum cell in ``directory``: its topology and the processes running it."""

    def __init__(
        self, directory: Path, topology: Topology, pids: dict[str, int] | None = None, patroni_path: str | None = None
    ) -> None:
        self.directory = directory
        self.topology = topology
        #: The Patroni the cell was started with, so that a restore starts the same one.
        self.patroni_path = patroni_path
        #: Patroni's PID per node name, etcd's per member name.
        self.pids: dict[str, int] = dict(pids or {})
        self.roles: dict[str, str] = {}

    # -- files -----------------------------------------------------------------------------------

    def node_dir(self, node: Node) -> Path:
        return self.directory / "nodes" / node.name

    def postmaster_pid(self, node: Node) -> int | None:
        try:
            pid = int((self.node_dir(node) / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def save(self) -> None:
        nodes = [
            {
                "name": node.name,
                "zone": node.zone,
                "role": self.roles.get(node.name, "unknown"),
                "patroni_pid": self.pids.get(node.name),
                "postmaster_pid": self.postmaster_pid(node),
                "port": node.port,
                "api_port": node.api_port,
            }
            for node in self.topology.nodes
        ]
        etcd = [{"name": m.name, "zone": m.zone, "pid": self.pids.get(m.name), "port": m.client_port} for m in self.topology.etcd]
        state = {
            "url": self.topology.storage_url(),
            "topology": self.topology.to_json(),
            "patroni": self.patroni_path,
            "nodes": nodes,
            "etcd": etcd,
        }
        path = self.directory / STATE_FILE
        path.with_suffix(".tmp").write_text(json.dumps(state, indent=2) + "\n")
        path.with_suffix(".tmp").replace(path)

    @classmethod
    def load(cls, directory: Path) -> Cell:
        try:
            state = json.loads((directory / STATE_FILE).read_text())
        except FileNotFoundError as exc:
            raise QuorumError(f"no quorum cell in {directory} (no {STATE_FILE})") from exc
        pids = {entry["name"]: entry["patroni_pid"] for entry in state["nodes"] if entry.get("patroni_pid")}
        pids |= {entry["name"]: entry["pid"] for entry in state["etcd"] if entry.get("pid")}
        cell = cls(directory, Topology.from_json(state["topology"]), pids, state.get("patroni"))
        cell.roles = {entry["name"]: entry["role"] for entry in state["nodes"]}
        return cell

    # -- processes -------------------------------------------------------------------------------

    def start_etcd(self, member: EtcdMember, tools: Tools, *, new: bool) -> None:
        data = self.directory / "etcd" / member.name
        data.mkdir(parents=True, exist_ok=True)
        peers = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.topology.etcd)
        argv = [
            str(tools.etcd),
            f"--name={member.name}",
            f"--data-dir={data}",
            f"--listen-client-urls=http://127.0.0.1:{member.client_port}",
            f"--advertise-client-urls=http://127.0.0.1:{member.client_port}",
            f"--listen-peer-urls=http://127.0.0.1:{member.peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{member.peer_port}",
            f"--initial-cluster={peers}",
            f"--initial-cluster-state={'new' if new else 'existing'}",
            "--initial-cluster-token=cellstore-quorum",
            # Loopback: a short heartbeat notices a dead member fast; small quota and no metrics to stay light.
            "--heartbeat-interval=100",
            "--election-timeout=1000",
            "--quota-backend-bytes=104857600",
            "--snapshot-count=5000",
        ]
        self.pids[member.name] = _spawn(argv, self.directory / "etcd" / f"{member.name}.log", data)

    def start_node(self, node: Node, tools: Tools, *, fsync: bool = False) -> None:
        directory = self.node_dir(node)
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "patroni.json"
        if not config.exists():
            config.write_text(json.dumps(patroni.config(self.topology, node, directory, tools.postgres_bin, fsync=fsync), indent=2))
        if os.geteuid() == 0:
            user = pwd.getpwnam(POSTGRES_USER)
            for path in [directory, *directory.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), "LANG": "C.UTF-8"}
        self.pids[node.name] = _spawn(
            [str(tools.patroni), str(config)], directory / "patroni.log", directory, env=env, **_as_postgres()
        )

    def kill(self, names: list[str]) -> None:
        """SIGKILL nodes (Patroni, the postmaster and every backend) and etcd members, as a crash would."""
        for name in names:
            node = self._node(name)
            pids = [self.pids.get(name)]
            if node is not None:
                postmaster = self.postmaster_pid(node)
                pids += [postmaster, *(_children_of(postmaster) if postmaster else [])]
            for pid in pids:
                if pid and alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for name in names:
            for pid in [self.pids.get(name)]:
                _wait_dead(pid, 5.0)

    def restore(self) -> list[str]:
        """Start every etcd member and node that is not running; they rejoin by themselves (Patroni, pg_rewind)."""
        tools = Tools.find(self.patroni_path)
        started = []
        for member in self.topology.etcd:
            if not alive(self.pids.get(member.name)):
                self.start_etcd(member, tools, new=False)
                started.append(member.name)
        for node in self.topology.nodes:
            if not alive(self.pids.get(node.name)):
                stale = self.postmaster_pid(node)
                if stale:  # a postmaster whose Patroni died: Patroni adopts none, so stop it first
                    os.kill(stale, signal.SIGKILL)
                    _wait_dead(stale, 5.0)
                self.start_node(node, tools)
                started.append(node.name)
        return started

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM Patroni (which stops PostgreSQL cleanly), then etcd; SIGKILL what outlives ``timeout``."""
        postmasters = [self.postmaster_pid(node) for node in self.topology.nodes]
        for names in ([n.name for n in self.topology.nodes], [m.name for m in self.topology.etcd]):
            pids = [self.pids.get(name) for name in names]
            for pid in pids:
                if pid and alive(pid):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for pid in pids:
                _wait_dead(pid, max(0.0, deadline - time.monotonic()))
        for pid in [*self.pids.values(), *postmasters]:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
                _wait_dead(pid, 5.0)

    def _node(self, name: str) -> Node | None:
        return next((node for node in self.topology.nodes if node.name == name), None)

    # -- health ----------------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """Patroni's view of the cluster (``GET /cluster``) from the first node that answers."""
        for node in self.topology.nodes:
            if not alive(self.pids.get(node.name)):
                continue
            try:
                members: list[dict[str, Any]] = _get_json(f"http://127.0.0.1:{node.api_port}/cluster")["members"]
            except (OSError, ValueError, KeyError):
                continue
            return members
        return []

    def refresh(self) -> list[dict[str, Any]]:
        """Learn each node's role from Patroni and record it (and the PIDs) in quorum.json."""
        members = {member["name"]: member for member in self.members()}
        self.roles = {
            node.name: str(members[node.name]["role"]) if node.name in members and alive(self.pids.get(node.name)) else "down"
            for node in self.topology.nodes
        }
        self.save()
        return list(members.values())

    def node_state(self, node: Node) -> dict[str, Any]:
        """The node's own Patroni's view of it (``GET /patroni``); empty when it does not answer."""
        if not alive(self.pids.get(node.name)):
            return {}
        try:
            state: dict[str, Any] = _get_json(f"http://127.0.0.1:{node.api_port}/patroni")
        except (OSError, ValueError):
            return {}
        return state

    def healthy(self) -> bool:
        """One running primary, every node streaming from it and counted in the ``ANY n`` quorum.

        Each node is asked itself (the cluster view in etcd keeps a dead
        member until its key expires), and the cluster view for the quorum.
        """
        states = [self.node_state(node) for node in self.topology.nodes]
        if any(state.get("state") != "running" for state in states):
            return False
        if sum(state.get("role") == "primary" for state in states) != 1:
            return False
        if any(s.get("role") != "primary" and s.get("replication_state") != "streaming" for s in states):
            return False
        members = self.members()
        if len(members) != len(self.topology.nodes):
            return False
        leaders = [m for m in members if m.get("role") == "leader" and m.get("state") == "running"]
        streaming = [m for m in members if m.get("role") != "leader" and m.get("state") == "streaming"]
        voters = [m for m in streaming if m.get("role") in ("quorum_standby", "sync_standby")]
        # Every streaming standby a voter: right after start Patroni shows a standby as ``replica`` until it has
        # rewritten synchronous_standby_names, and a cell reported healthy then had fewer copies to ack with.
        return (len(leaders) == 1 and len(streaming) == len(members) - 1 and len(voters) == len(streaming)
                and len(voters) >= self.topology.sync_replicas)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            dead = [name for name, pid in self.pids.items() if not alive(pid)]
            if dead:
                raise QuorumError(f"{', '.join(dead)} exited while starting: see the logs in {self.directory}")
            if time.monotonic() > deadline:
                raise QuorumError(f"the cell was not healthy after {timeout:.0f} s: see the logs in {self.directory}")
            time.sleep(0.25)

    def wait_etcd(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for member in self.topology.etcd:
            while True:
                try:
                    if _get_json(f"http://127.0.0.1:{member.client_port}/health").get("health") == "true":
                        break
                except (OSError, ValueError):
                    pass
                if not alive(self.pids.get(member.name)):
                    raise QuorumError(f"etcd member {member.name} exited: see {self.directory}/etcd/{member.name}.log")
                if time.monotonic() > deadline:
                    raise QuorumError(f"etcd was not healthy after {timeout:.0f} s: see {self.directory}/etcd")
                time.sleep(0.1)


def up(
    directory: Path,
    *,
    zones: int = 3,
    copies_per_zone: int = 2,
    ack: int = 4,
    fsync: bool = False,
    patroni_path: str | None = None,
    timeout: float = 180.0,
) -> Cell:
    """Start a new cell in ``directory`` and return it once healthy; on failure stop what started."""
    topology = plan(zones, copies_per_zone, ack)
    tools = Tools.find(patroni_path)
    if (directory / STATE_FILE).exists():
        old = Cell.load(directory)
        if any(alive(pid) for pid in old.pids.values()):
            raise QuorumError(f"a quorum cell is already running in {directory}: cellstore quorum down {directory}")
        raise QuorumError(f"{directory} holds a stopped cell: remove it or choose another directory")
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(directory, 0o755)  # the postgres user must reach its nodes' directories
    cell = Cell(directory.resolve(), topology, patroni_path=str(tools.patroni))
    try:
        for member in topology.etcd:
            cell.start_etcd(member, tools, new=True)
        cell.save()
        cell.wait_etcd(timeout=30.0)
        for node in topology.nodes:
            cell.start_node(node, tools, fsync=fsync)
            cell.save()
        cell.wait_healthy(timeout)
        cell.refresh()
    except BaseException:
        cell.stop(timeout=5.0)
        cell.save()
        raise
    return cell


def status(directory: Path) -> dict[str, Any]:
    """The cell's state as quorum.json now records it, roles and liveness refreshed from Patroni."""
    cell = Cell.load(directory)
    members = {member["name"]: member for member in cell.refresh()}
    state: dict[str, Any] = json.loads((directory / STATE_FILE).read_text())
    for entry in state["nodes"]:
        member = members.get(entry["name"], {})
        entry["state"] = member.get("state", "down") if alive(entry.get("patroni_pid")) else "down"
        entry["lag"] = member.get("lag")
    for entry in state["etcd"]:
        entry["state"] = "running" if alive(entry.get("pid")) else "down"
    state["healthy"] = cell.healthy()
    return state


def restore(directory: Path, timeout: float = 120.0) -> list[str]:
    """Start what is not running in a cell (after a crash, a kill, a reboot) and wait until it is healthy."""
    cell = Cell.load(directory)
    started = cell.restore()
    cell.wait_healthy(timeout)
    cell.refresh()
    return started


def down(directory: Path) -> None:
    cell = Cell.load(directory)
    cell.stop()
    cell.roles = dict.fromkeys(cell.roles, "down")
    cell.save()


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _wait_dead(pid: int | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid and alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

