"""``cellstore cache ...``: the cache tier's subcommands, registered by cli.py with one call.

``cellstore cache warm --config cache.toml --zone b --from a [--rate N]``
fills zone b's nodes (or the ``--node`` ones) from zone a's copy and shows
its progress: a rich progress bar on a terminal, a plain line a second
otherwise (logs, CI).  ``cellstore cache relay`` applies another region's
writes from a FIFO queue (relay.py).  ``serve --cache`` is the item cache
(items.py); its options are added here too.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cellstore.cache.errors import CacheError
from cellstore.progress import StatusLine

if TYPE_CHECKING:
    from cellstore.cache.items import ServiceCache
    from cellstore.cache.warming import Warmer, WarmProgress

# The cache's modules are imported when a command runs, not with this one: every ``cellstore``
# command imports it (to register ``cache`` and ``serve --cache``), ``--help`` included.


def register(commands: Any) -> None:
    """Add ``cache`` and its actions to the ``cellstore`` command's subparsers."""
    cache = commands.add_parser(
        "cache",
        help="operate the memcached cache tier (docs/CACHE.md)",
        description="Operate the EVCache-style cache tier: zones of memcached servers named in a cache.toml.",
    )
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    warm = actions.add_parser(
        "warm",
        help="fill a zone's nodes from another zone's copy",
        description="List the keys of the --from zone with memcached's LRU crawler (metadump), and copy those "
        "that the --zone zone's nodes should hold into them, without overwriting a key already there.",
        epilog="examples:\n  cellstore cache warm --config cache.toml --zone b --from a\n"
        "  cellstore cache warm --config cache.toml --zone b --from a --node 10.0.1.7:11211 --rate 2000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    warm.add_argument("--config", type=Path, required=True, help="the cache.toml naming the zones")
    warm.add_argument("--zone", required=True, help="the zone to fill")
    warm.add_argument("--from", dest="source", required=True, help="the healthy zone to copy from")
    warm.add_argument(
        "--node", action="append", metavar="HOST:PORT", help="fill only this node of --zone (repeatable; default: all)"
    )
    warm.add_argument(
        "--rate", type=float, default=None, metavar="N", help="copy at most N keys a second (default: no limit)"
    )
    warm.set_defaults(run=run_warm, parser=warm)

    relay = actions.add_parser(
        "relay",
        help="apply another region's cache writes, read from an SQS FIFO queue, to this region's cache",
        description="Receive the writes another region's clients published (cellstore.cache.relay.RegionPublisher) "
        "from an SQS FIFO queue -- a cellstore server's or AWS's -- and apply them, in order per key, to every zone "
        "of the cache in --config, until SIGINT or SIGTERM.  Needs boto3 (pip install 'cellstore[embedded]').",
        epilog="examples:\n  cellstore cache relay --config west.toml --region west "
        "--queue-url http://127.0.0.1:8000/000000000000/cache-writes.fifo --endpoint-url http://127.0.0.1:8000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    relay.add_argument("--config", type=Path, required=True, help="the cache.toml of this region's cache")
    relay.add_argument("--zone", help="the zone the relay runs in (default: the file's zone, else the first)")
    relay.add_argument("--queue-url", required=True, help="the FIFO queue the other region publishes to")
    relay.add_argument(
        "--region", required=True, help="this region's name as its publishers give it: those writes are skipped"
    )
    relay.add_argument("--endpoint-url", help="the SQS endpoint, e.g. a cellstore server (default: boto3's)")
    relay.set_defaults(run=run_relay, parser=relay)


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    """``serve --cache cache.toml --zone a``: the read-through item cache (cache/items.py)."""
    serve.add_argument(
        "--cache",
        type=Path,
        metavar="FILE",
        help="serve eventually consistent GetItem/BatchGetItem of the tables in FILE's [tables.NAME] from "
        "the memcached cache tier it names, invalidated by every write (docs/CACHE.md)",
    )
    serve.add_argument(
        "--zone",
        help="this server's zone: with --cache, the cache zone read first (default: the file's zone); with a "
        "multi-host --storage URL, the replicas eventually consistent reads go to first (docs/QUORUM.md)",
    )


def service_cache(args: argparse.Namespace) -> ServiceCache | None:
    """The item cache ``serve`` plugs in, or None without ``--cache``; a bad file stops serve here."""
    if args.cache is None:
        return None
    from cellstore.cache.config import load_config
    from cellstore.cache.items import ServiceCache

    try:
        return ServiceCache(load_config(args.cache, zone=args.zone), args.zone)
    except CacheError as exc:
        raise SystemExit(f"cellstore: --cache: {exc}") from None


def run_warm(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from cellstore.cache.client import CacheClient
    from cellstore.cache.config import load_config
    from cellstore.cache.metadump import MetadumpFailed
    from cellstore.cache.warming import Warmer

    stream = out or sys.stdout
    try:
        config = load_config(args.config, zone=args.zone)
        with CacheClient(config, zone=args.zone, replay=False) as client:
            warmer = Warmer(client, args.zone, args.source, nodes=args.node, rate=args.rate)
            state = _with_bar(warmer, stream) if stream.isatty() else warmer.run(_plain_lines(stream))
    except (CacheError, MetadumpFailed) as exc:
        print(f"cellstore cache warm: {exc}", file=sys.stderr)
        return 1
    print(_summary(state), file=stream)
    return 0 if state.failed == 0 else 1


def run_relay(args: argparse.Namespace) -> int:
    from cellstore.cache.client import CacheClient
    from cellstore.cache.config import load_config
    from cellstore.cache.relay import Relay

    try:
        import boto3
    except ImportError:
        raise SystemExit("cellstore cache relay needs boto3: pip install 'cellstore[embedded]'") from None
    region_name = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url, region_name=region_name)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        config = load_config(args.config, zone=args.zone)
    except CacheError as exc:
        raise SystemExit(f"cellstore cache relay: {exc}") from None
    with CacheClient(config, zone=args.zone) as cache:
        relay = Relay(sqs, args.queue_url, cache, args.region)
        print(f"relaying {args.queue_url} into zone {cache.zone} of {args.config}", flush=True)
        relay.run(stop)
    print(f"relayed {relay.applied} writes", flush=True)
    return 0


def _with_bar(warmer: Warmer, stream: TextIO) -> WarmProgress:
    # rich is imported only on a terminal: every cellstore command imports this module, and rich takes a while.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("warming"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(file=stream)
    ) as bar:
        task = bar.add_task("warm", total=None)

        def show(state: WarmProgress) -> None:
            bar.update(task, total=state.listed, completed=state.done)

        return warmer.run(show)


def _plain_lines(stream: TextIO) -> Callable[[WarmProgress], None]:
    """One line a second (and the first): what a log file or CI wants instead of a redrawn bar."""
    status = StatusLine(stream, every=1.0, tty=False)
    return lambda state: status.show(f"warming: {state.done}/{state.listed} keys, {state.copied} copied")


def _summary(state: WarmProgress) -> str:
    rate = state.done / state.seconds if state.seconds else 0.0
    return (
        f"warmed: {state.listed} keys listed, {state.copied} copied, {state.present} already there, "
        f"{state.gone} gone from the source, {state.failed} failed, in {state.seconds:.1f} s ({rate:.0f} keys/s)"
    )
