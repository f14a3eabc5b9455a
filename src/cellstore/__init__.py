"""cellstore: a DynamoDB- and SQS-compatible data store."""

__version__ = "0.1.0"
