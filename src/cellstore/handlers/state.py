"""What a mapping keeps in the keyspace, through the engine's door (``engine/mappings.py``).

Its definition, checkpoint, lease and metrics; the layout and the lease
rules are described there.  The handlers never touch storage themselves.
"""

from __future__ import annotations

from cellstore.engine.mappings import LeaseLost as LeaseLost
from cellstore.engine.mappings import acquire as acquire
from cellstore.engine.mappings import load_checkpoint as load_checkpoint
from cellstore.engine.mappings import release as release
from cellstore.engine.mappings import save as save
from cellstore.engine.mappings import save_definition as save_definition
from cellstore.engine.mappings import status as status
