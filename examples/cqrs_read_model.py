"""A CQRS read model: a handler keeps per-customer order totals up to date from the orders stream.

Writes go to ``orders`` (the command side); a stream mapping feeds every
change to ``on_orders``, which folds it into ``order_totals`` (the read
side): one item per customer with the sum of its order amounts and its
number of orders.  An order that changes amount or customer, or is deleted,
is undone from the old customer's total and applied to the new one.

Delivery is at-least-once, so each total remembers the last stream sequence
number applied to it and a conditional update refuses an older or repeated
one: a record delivered twice (after a crash, say) is counted once.

Run it:  python examples/cqrs_read_model.py   (an in-process cellstore, in memory)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError


def make_handler(client: Any, totals_table: str) -> Any:
    """The stream handler for ``orders``, writing to ``totals_table`` through ``client``."""

    def on_orders(event: dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            change = record["dynamodb"]
            sequence = change["SequenceNumber"]
            deltas: dict[str, tuple[Decimal, int]] = {}
            if "OldImage" in change:
                _add(deltas, change["OldImage"], -1)
            if "NewImage" in change:
                _add(deltas, change["NewImage"], +1)
            for customer, (amount, count) in deltas.items():
                if amount or count:
                    _apply(client, totals_table, customer, amount, count, sequence)

    return on_orders


def _add(deltas: dict[str, tuple[Decimal, int]], image: dict[str, Any], sign: int) -> None:
    customer = image["customer"]["S"]
    amount, count = deltas.get(customer, (Decimal(0), 0))
    deltas[customer] = (amount + sign * Decimal(image["amount"]["N"]), count + sign)


def _apply(client: Any, table: str, customer: str, amount: Decimal, count: int, sequence: str) -> None:
    try:
        client.update_item(
            TableName=table,
            Key={"customer": {"S": customer}},
            UpdateExpression="ADD #total :amount, #orders :count SET #applied = :seq",
            ConditionExpression="attribute_not_exists(#applied) OR #applied < :seq",
            ExpressionAttributeNames={"#total": "total", "#orders": "orders", "#applied": "applied"},
            ExpressionAttributeValues={
                ":amount": {"N": str(amount)},
                ":count": {"N": str(count)},
                ":seq": {"S": sequence},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        # Already applied: a redelivered record.


def create_tables(client: Any, orders: str, totals: str) -> None:
    client.create_table(
        TableName=orders,
        KeySchema=[{"AttributeName": "order", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "order", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.create_table(
        TableName=totals,
        KeySchema=[{"AttributeName": "customer", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "customer", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def totals(client: Any, table: str) -> dict[str, tuple[Decimal, int]]:
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["customer"]["S"]: (Decimal(i["total"]["N"]), int(i["orders"]["N"])) for i in items}


def main() -> None:
    import time

    from cellstore import handlers
    from cellstore.embedded import in_process

    with in_process() as store:
        client = store.client()
        create_tables(client, "orders", "order_totals")
        handlers.register(store.db, store.db.table_arn("orders"), make_handler(client, "order_totals"),
                          BatchSize=50, StartingPosition="TRIM_HORIZON")
        for n in range(20):
            client.put_item(TableName="orders", Item={"order": {"S": f"o{n}"}, "customer": {"S": f"c{n % 3}"},
                                                      "amount": {"N": str(10 + n)}})
        client.delete_item(TableName="orders", Key={"order": {"S": "o0"}})
        time.sleep(1)
        for customer, (total, count) in sorted(totals(client, "order_totals").items()):
            print(f"{customer}: {count} orders, total {total}")


if __name__ == "__main__":
    main()
