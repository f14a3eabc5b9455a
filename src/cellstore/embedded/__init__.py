"""cellstore inside your own process: served on a background thread, or with no socket at all.

``serve()`` starts a real HTTP endpoint on a free loopback port; ``in_process()``
answers boto3's DynamoDB calls directly from a botocore event hook.  Both yield
an object with ``.client()`` and ``.resource()`` returning ready boto3 objects.
"""

from cellstore.embedded.clients import Cellstore
from cellstore.embedded.inprocess import InProcessCellstore, in_process
from cellstore.embedded.server import serve

__all__ = ["Cellstore", "InProcessCellstore", "in_process", "serve"]
