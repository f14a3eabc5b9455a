"""PartiQL for DynamoDB: ExecuteStatement, ExecuteTransaction and BatchExecuteStatement.

``parser.py`` reads a statement (with its ``?`` parameters bound) into one
of a few typed statements whose conditions, updates and projections are
already the engine's resolved expression trees; ``translate.py`` turns each
statement into the engine call DynamoDB's own API would make (a Query when
the WHERE pins the partition key, a Scan otherwise, a put, update or delete
with a condition); ``execute.py`` holds the three operations.  Nothing here
evaluates an expression or touches storage: that stays the engine's.
"""
