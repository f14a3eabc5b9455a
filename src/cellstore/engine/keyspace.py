"""The map of the keyspace: every top-level prefix and every sub-layout, in one place.

The storage door is one ordered map of byte keys (``storage/base.py``), so
every kind of record the engine and the handlers keep must live in a range of
its own: two kinds sharing a prefix would read, trim or range-delete each
other.  Like LevelDB's ``dbformat.h``, this module is the only place a prefix
is invented; the modules that build keys (``keycodec``, ``queues/keys``,
``streams/keys``, ``mappings``) take their prefixes from here, and
``tests/unit/engine/test_keyspace.py`` checks that no two overlap.

    0x01 META        catalog records:
         "seq"                          last table id issued (decimal text)
         "table/" <table name>          table record (JSON)
         "backfill/" <table name>       marker: the table has a backfill to run
         "ttl/" <table name>            marker: the table has TTL enabled
         "txtoken/" <token>             a committed transaction's token
         "txexpiry/" <expires ms:8> <token>   expiry index of the tokens
         "format"                       data-format version (``engine/migrations.py``)
         "fence"                        this account's keyspace has moved to another cell (JSON)
         "fencing"                      a move of this account is under way: log its changes (empty;
                                        sorts right after "fence", so one range read finds both)
         "movelog/" <seq:8>             a change made while it moves (``engine/move_log.py``):
                                        b"k" <key>, or b"r" <len:2> <start> <end> for a deleted range
    0x02 ITEMS       <table id:8> <hash:8> <pk> [<sk>]           item (JSON)
    0x03 QUEUES      SQS: 0x00 queue id counter, 0x01 queue records,
                     0x02 per-queue data, 0x03 message move tasks (``queues/keys.py``)
    0x04 INDEXES     <table id:8> <index no:2> <hash:8> <index pk> [<index sk>] <pk> [<sk>]
    0x05 EXPIRIES    <table id:8> <expiry second:8> <item key>  TTL entry (empty)
    0x06 STREAMS     "seq", "n" stream records, "h" shards, "r" records (``streams/keys.py``)
    0x07             never used
    0x08 HANDLERS    "d" definitions, "c" checkpoints, "l" leases, "m" metrics
    0x09 ACCOUNTS    <account id: 12 ASCII digits> <that account's own keyspace, laid
                     out exactly as this map>  (``engine/tenants.py``); the
                     default account 000000000000 is the root keyspace itself,
                     so data written before accounts existed is its data
    0x0a BACKUPS     on-demand backups (``engine/backups.py``): "seq" last backup number and id ms,
                     "b" <backup id> backup record (JSON), "i" <backup number:8> <item key
                     after the table id> an item as the backup holds it

docs/ARCHITECTURE.md shows the same map with the value formats.
"""

from __future__ import annotations

META = b"\x01"
ITEMS = b"\x02"
QUEUES = b"\x03"
INDEXES = b"\x04"
EXPIRIES = b"\x05"
STREAMS = b"\x06"
HANDLERS = b"\x08"
ACCOUNTS = b"\x09"
BACKUPS = b"\x0a"

#: Every top-level prefix, by name (the overlap test walks this).
TOP_LEVEL: dict[str, bytes] = {
    "meta": META,
    "items": ITEMS,
    "queues": QUEUES,
    "indexes": INDEXES,
    "expiries": EXPIRIES,
    "streams": STREAMS,
    "handlers": HANDLERS,
    "accounts": ACCOUNTS,
    "backups": BACKUPS,
}

#: The prefixes an account's own keyspace is made of: every top-level kind but
#: ``ACCOUNTS`` (accounts do not nest).  Copying an account is copying these.
ACCOUNT_KINDS: tuple[bytes, ...] = (META, ITEMS, QUEUES, INDEXES, EXPIRIES, STREAMS, HANDLERS, BACKUPS)

# ---- 0x01: catalog records -----------------------------------------------------------

TABLE_SEQ = META + b"seq"
TABLES = META + b"table/"
BACKFILLS = META + b"backfill/"
TTL_TABLES = META + b"ttl/"
TX_TOKENS = META + b"txtoken/"
TX_EXPIRIES = META + b"txexpiry/"
DATA_FORMAT = META + b"format"
TENANT_FENCE = META + b"fence"
TENANT_MOVING = META + b"fencing"
MOVE_LOG = META + b"movelog/"

# ---- 0x03: queues (the per-queue layout is in engine/queues/keys.py) ------------------

QUEUE_SEQ = QUEUES + b"\x00"
QUEUE_RECORDS = QUEUES + b"\x01"
QUEUE_DATA = QUEUES + b"\x02"
MOVE_TASKS = QUEUES + b"\x03"

# ---- 0x06: streams ------------------------------------------------------------------

STREAM_SEQ = STREAMS + b"seq"
STREAM_RECORDS = STREAMS + b"n"
STREAM_SHARDS = STREAMS + b"h"
STREAM_CHANGES = STREAMS + b"r"

# ---- 0x08: handler mappings ------------------------------------------------------------

HANDLER_DEFINITIONS = HANDLERS + b"d"
HANDLER_CHECKPOINTS = HANDLERS + b"c"
HANDLER_LEASES = HANDLERS + b"l"
HANDLER_METRICS = HANDLERS + b"m"

# ---- 0x0a: on-demand backups (engine/backups.py) -------------------------------------

BACKUP_SEQ = BACKUPS + b"seq"
BACKUP_RECORDS = BACKUPS + b"b"
BACKUP_ITEMS = BACKUPS + b"i"

#: Each top-level prefix's sub-layout: the prefixes of its record kinds.  A key
#: of one kind must never start with another kind's prefix.
SUB_LAYOUTS: dict[bytes, dict[str, bytes]] = {
    META: {
        "table seq": TABLE_SEQ,
        "tables": TABLES,
        "backfills": BACKFILLS,
        "ttl tables": TTL_TABLES,
        "tx tokens": TX_TOKENS,
        "tx expiries": TX_EXPIRIES,
        "data format": DATA_FORMAT,
        "tenant fence": TENANT_FENCE,
        "tenant moving": TENANT_MOVING,
        "move log": MOVE_LOG,
    },
    QUEUES: {
        "queue seq": QUEUE_SEQ,
        "queue records": QUEUE_RECORDS,
        "queue data": QUEUE_DATA,
        "move tasks": MOVE_TASKS,
    },
    STREAMS: {
        "stream seq": STREAM_SEQ,
        "stream records": STREAM_RECORDS,
        "shards": STREAM_SHARDS,
        "changes": STREAM_CHANGES,
    },
    HANDLERS: {
        "definitions": HANDLER_DEFINITIONS,
        "checkpoints": HANDLER_CHECKPOINTS,
        "leases": HANDLER_LEASES,
        "metrics": HANDLER_METRICS,
    },
    BACKUPS: {
        "backup seq": BACKUP_SEQ,
        "backup records": BACKUP_RECORDS,
        "backup items": BACKUP_ITEMS,
    },
}


def account_prefix(account: str) -> bytes:
    """Where a non-default account's keyspace starts (the default account's is the root itself)."""
    return ACCOUNTS + account.encode("ascii")


def overlaps(prefixes: dict[str, bytes]) -> list[tuple[str, str]]:
    """Pairs of names whose prefixes overlap (one is a prefix of the other)."""
    found = []
    names = sorted(prefixes)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = prefixes[first], prefixes[second]
            if a.startswith(b) or b.startswith(a):
                found.append((first, second))
    return found
