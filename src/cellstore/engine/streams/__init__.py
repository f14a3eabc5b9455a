"""DynamoDB Streams in the engine: a durable, ordered record of every item change.

One concern per module (docs/STREAMS.md explains the choices):

* ``keys``      — the 0x06 keyspace layout;
* ``settings``  — retention, shard roll-over and iterator lifetime, the clock;
* ``lifecycle`` — a table's streams and their shards: create, roll over, disable;
* ``hook``      — the change hook writing each change's record in its transaction;
* ``retention`` — trimming old records, dropping old shards and gone streams;
* ``tokens``    — shard iterators;
* ``reads``     — ListStreams, DescribeStream, GetShardIterator, GetRecords in
  engine terms (``api/streams.py`` gives them AWS's shapes).

This module is the package's door: the names other packages use.
"""

from __future__ import annotations

from cellstore.engine.streams.hook import record_change as record_change
from cellstore.engine.streams.lifecycle import follow_table as follow_table
from cellstore.engine.streams.lifecycle import parse_arn as parse_arn
from cellstore.engine.streams.lifecycle import sequence_text as sequence_text
from cellstore.engine.streams.lifecycle import table_deleted as table_deleted
from cellstore.engine.streams.reads import ITERATOR_TYPES as ITERATOR_TYPES
from cellstore.engine.streams.reads import RecordsPage as RecordsPage
from cellstore.engine.streams.reads import Shard as Shard
from cellstore.engine.streams.reads import StreamInfo as StreamInfo
from cellstore.engine.streams.reads import StreamSummary as StreamSummary
from cellstore.engine.streams.reads import describe_stream as describe_stream
from cellstore.engine.streams.reads import get_records as get_records
from cellstore.engine.streams.reads import get_shard_iterator as get_shard_iterator
from cellstore.engine.streams.reads import list_streams as list_streams
from cellstore.engine.streams.settings import SETTINGS as SETTINGS
from cellstore.engine.streams.settings import Settings as Settings
from cellstore.engine.streams.tokens import Position as Position
from cellstore.engine.streams.tokens import decode_iterator as decode_iterator
from cellstore.engine.streams.tokens import encode_iterator as encode_iterator
