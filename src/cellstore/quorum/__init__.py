"""A local quorum cell: etcd, Patroni and PostgreSQL on this machine, in zones (docs/QUORUM.md).

Operations tooling, not a layer of the server: it starts and stops
processes and writes ``quorum.json``; cellstore itself sees only the storage
URL it prints.  Replication, consensus and failure detection are
PostgreSQL's (synchronous quorum commit), Patroni's and etcd's — nothing here
decides who is primary.

``topology`` plans the nodes and their ports, ``patroni`` writes a node's
Patroni configuration, ``cluster`` runs the processes (up, status, restore,
down; kill for the fault tests) and ``command`` is the ``cellstore quorum``
subcommand.
"""
