"""The chaos and abuse suite: faults and hostile clients against a real server, with invariants checked after each.

The parts, each a module with one job:

- ``clients``: boto3 clients that never retry, so every answer (a 5xx
  included) and every cut connection reaches the workload as it happened;
- ``workload``: eight writers of five kinds (PutItem, ADD, TransactWriteItems,
  SendMessage, Receive+Delete), each recording in a ``Ledger`` what it tried
  and what the server acknowledged;
- ``invariants``: after a restart, compares the data with the ledger: every
  acknowledged write present exactly once, no half-applied transaction, no
  deleted message back;
- ``faults``: the drivers: kill -9 of the server in a loop, kill -9 of one
  worker, PostgreSQL restarted with ``-m immediate`` under load;
- ``abuse``: slowloris, idle connections, pipelining, malformed HTTP,
  oversized bodies and unauthenticated uploads, each with a fresh client
  checking that the server still answers;
- ``fuzz``: mutated requests on the wire, signed (``--auth sigv4``) and not;
- ``sampler``: resident memory and descriptors of the whole server process tree;
- ``report``: the figures of a run as JSON and markdown.

The short CI mode is ``tests/fault/test_chaos_*.py``; the long mode is
``make chaos`` (``python -m tests.fault.chaos``), see docs/RELIABILITY.md.
"""
