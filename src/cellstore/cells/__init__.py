"""Cells: tenants placed in independent copies of the engine, behind a thin router (docs/CELLS.md).

``config`` reads cells.toml; ``cellmap`` keeps tenant → cell durable and
cached; ``placement`` chooses a new tenant's cell; ``bulkhead`` gives each
cell its own threads, queue and timeout; ``router`` is the protocol's
``Directory`` over all of it; ``deployment`` opens one front end's share;
``mover`` moves a tenant between cells while it is written.
"""
