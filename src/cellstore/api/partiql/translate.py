"""A parsed PartiQL statement as the engine call DynamoDB's own API would make.

* SELECT: a Query when the WHERE's top-level AND pins every partition
  attribute of the table (or the index named by ``"table"."index"``) with
  ``=``; one more conjunct on the sort key (``=``, ``<``, ``<=``, ``>``,
  ``>=``, BETWEEN, begins_with) narrows the range; every other conjunct is
  the filter.  Anything else is a Scan filtered by the whole WHERE.
* INSERT: a put conditioned on ``attribute_not_exists`` of the partition
  key; its failure is DynamoDB's DuplicateItemException.
* UPDATE and DELETE: the WHERE must pin the full primary key with ``=``;
  the other conjuncts become the write's condition (UPDATE also requires
  the item to exist, as DynamoDB does: it never creates one).
* EXISTS(SELECT ...) in a transaction: a ConditionCheck of the same shape.

The result of each is a plain engine request — a ``ReadPlan`` for the
reads module, a ``transactions.WriteAction`` for a write — so conditions,
streams, indexes and capacity behave exactly as through the item API.
"""

from __future__ import annotations

from dataclasses import dataclass

from cellstore.api.partiql.parser import Exists, Insert, Select, Statement, Update, flipped
from cellstore.engine import catalog, indexes, keycodec, transactions
from cellstore.engine.database import Database
from cellstore.engine.expressions import Condition, KeyCondition, Projection
from cellstore.engine.expressions import Update as EngineUpdate
from cellstore.engine.expressions.ast import (
    And,
    Attr,
    Between,
    Call,
    Comparator,
    Compare,
    FunctionCondition,
    In,
    Literal,
    Node,
    Not,
    Or,
    Parens,
)
from cellstore.engine.expressions.keycondition import KeyPart, build_key_condition
from cellstore.engine.expressions.path import check_paths
from cellstore.engine.tables import Table
from cellstore.engine.values import AttributeValue, Item
from cellstore.errors import ValidationException

#: DynamoDB's words for a write whose WHERE does not name one item.
NO_KEY = "Where clause does not contain a mandatory equality on all key attributes"
DUPLICATE_ITEM = "Duplicate primary key exists in table"


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """A SELECT as a Query (``key_condition`` set) or a Scan, with what shapes its answer."""

    table: Table
    index: indexes.Index | None
    key_condition: KeyCondition | None
    filter: Condition | None
    projection: Projection | None
    forward: bool = True
    fetch_base: bool = False
    #: The full primary key, when the WHERE pins it with ``=`` on the table: a GetItem, not a Query.
    key: Item | None = None
    #: ORDER BY the partition key over ``IN [...]`` (or ``= a OR = b``): each partition read in
    #: this order, one Query after another, ``filter`` holding the whole WHERE.
    partitions: tuple[AttributeValue, ...] | None = None

    @property
    def index_name(self) -> str | None:
        return None if self.index is None else self.index.name


def conjuncts(node: Node | None) -> list[Node]:
    """The top-level AND's operands, left to right (found without recursion)."""
    if node is None:
        return []
    found: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, And):
            stack.extend((current.right, current.left))
        else:
            found.append(current)
    return found


def joined(nodes: list[Node]) -> Node | None:
    if not nodes:
        return None
    node = nodes[0]
    for other in nodes[1:]:
        node = And(node, other)
    return node


def _equality(node: Node) -> tuple[str, Literal] | None:
    """``name = literal`` (either way round) on a top-level attribute, else None."""
    if not isinstance(node, Compare) or node.op != "=":
        return None
    left, right = node.left, node.right
    if isinstance(right, Attr) and isinstance(left, Literal):
        left, right = right, left
    if isinstance(left, Attr) and isinstance(right, Literal) and len(left.path) == 1 and isinstance(left.path[0], str):
        return left.path[0], right
    return None


def _range_part(node: Node, name: str) -> KeyPart | None:
    """``node`` as a sort-key restriction on ``name`` (=, <, <=, >, >=, BETWEEN, begins_with), else None."""
    if isinstance(node, Compare) and node.op != "<>":
        op: Comparator = node.op
        left, right = node.left, node.right
        if isinstance(left, Literal) and isinstance(right, Attr):
            op, left, right = flipped(op), right, left
        if isinstance(left, Attr) and left.path == (name,) and isinstance(right, Literal):
            return name, op, (right.value,)
    if (isinstance(node, Between) and isinstance(node.operand, Attr) and node.operand.path == (name,)
            and isinstance(node.low, Literal) and isinstance(node.high, Literal)):
        return name, "BETWEEN", (node.low.value, node.high.value)
    if isinstance(node, FunctionCondition) and node.call.name == "begins_with":
        path, prefix = node.call.args
        if isinstance(path, Attr) and path.path == (name,) and isinstance(prefix, Literal):
            return name, "BEGINS_WITH", (prefix.value,)
    return None


def _partition_values(node: Node, name: str) -> list[AttributeValue] | None:
    """The values a conjunct confines ``name`` to — ``name IN [v, ...]`` or ``name = v OR name = w ...``
    (parenthesized or not) — else None.  Walked without recursion: an OR chain may be long."""
    values: list[AttributeValue] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Parens):
            stack.append(current.inner)
        elif isinstance(current, Or):
            stack.extend((current.right, current.left))
        elif (isinstance(current, In) and isinstance(current.operand, Attr) and current.operand.path == (name,)
              and all(isinstance(option, Literal) for option in current.options)):
            values.extend(option.value for option in current.options if isinstance(option, Literal))
        elif (equality := _equality(current)) is not None and equality[0] == name:
            values.append(equality[1].value)
        else:
            return None
    return values


#: AWS: IN takes "at max 50 hash attribute values" (100 of any other attribute: the parser's limit).
MAX_PARTITION_VALUES = 50


def _check_partition_lists(where: Node | None, name: str) -> None:
    """Refuse an ``IN`` on the partition key ``name`` with more values than AWS reads partitions for."""
    stack = [] if where is None else [where]
    while stack:
        current = stack.pop()
        if isinstance(current, (And, Or)):
            stack.extend((current.left, current.right))
        elif isinstance(current, (Not, Parens)):
            stack.append(current.operand if isinstance(current, Not) else current.inner)
        elif (isinstance(current, In) and isinstance(current.operand, Attr) and current.operand.path == (name,)
              and len(current.options) > MAX_PARTITION_VALUES):
            raise ValidationException(f"IN takes at most {MAX_PARTITION_VALUES} values of the partition key")


def _ordered_partitions(rest: list[Node], name: str, kind: str, descending: bool) -> tuple[AttributeValue, ...] | None:
    """The partitions a top-level conjunct confines the partition key to, in key order (``kind``-typed
    values only: another type matches no item), or None when no conjunct does."""
    for node in rest:
        values = _partition_values(node, name)
        if values is not None:
            typed = {keycodec.encode_value(value): value for value in values if set(value) == {kind}}
            return tuple(typed[encoded] for encoded in sorted(typed, reverse=descending))
    return None


def plan_select(db: Database, select: Select, *, consistent: bool) -> ReadPlan:
    table = catalog.read_table(db, select.table)
    index = None if select.index is None else indexes.find_index(table, select.index)
    if index is not None and index.is_global and consistent:
        raise ValidationException("Consistent reads are not supported on global secondary indexes")
    keyed: Table | indexes.Index = table if index is None else index
    for name in keyed.hash_names:
        _check_partition_lists(select.where, name)
    rest = conjuncts(select.where)
    parts: list[KeyPart] = []
    for name in keyed.hash_names:
        found = next((n for n in rest if (eq := _equality(n)) is not None and eq[0] == name), None)
        if found is None:
            break
        rest.remove(found)
        equality = _equality(found)
        if equality is not None:
            parts.append((name, "=", (equality[1].value,)))
    projection = None
    if select.projection is not None:
        check_paths(list(select.projection), "ProjectionExpression")
        projection = Projection(list(select.projection))
    fetch_base = index is not None and not index.is_global and index.projection_type != "ALL"
    by_partition = len(keyed.hash_names) == 1 and select.order_path == keyed.hash_names
    if len(parts) < len(keyed.hash_names):
        where = None if select.where is None else Condition(select.where)
        # ``IN [...]`` (or ``= a OR = b``) on the partition key reads those partitions, ordered or not: AWS
        # counts it with ``=`` as what keeps a SELECT from being a full table scan.
        if len(keyed.hash_names) == 1 and select.order_path in (None, keyed.hash_names):
            kind = (table.hash_key if index is None else index.hash_keys[0]).type
            partitions = _ordered_partitions(rest, keyed.hash_names[0], kind, bool(select.descending))
            if partitions is not None:
                return ReadPlan(table, index, None, where, projection, fetch_base=fetch_base, partitions=partitions)
        if select.order_path is not None:
            raise ValidationException(
                "Must have WHERE clause in the statement with a condition on the partition key when using "
                "ORDER BY clause"
            )
        return ReadPlan(table, index, None, where, projection, fetch_base=fetch_base)
    for name in keyed.range_names:
        found_part = next(((n, p) for n in rest if (p := _range_part(n, name)) is not None), None)
        if found_part is None:
            break
        rest.remove(found_part[0])
        parts.append(found_part[1])
        if found_part[1][1] != "=":
            break
    key_condition = build_key_condition(
        parts, keyed.hash_names if len(keyed.hash_names) > 1 else keyed.hash_names[0],
        (keyed.range_names if len(keyed.range_names) > 1 else keyed.range_names[0]) if keyed.range_names else None,
    )
    forward = True
    if select.order_path is not None and not by_partition:  # one partition is already in partition-key order
        if not keyed.range_names or select.order_path != (keyed.range_names[-1],):
            raise ValidationException("ORDER BY takes only the partition key or the sort key of the table or index read")
        forward = not select.descending
    remaining = joined(rest)
    filter_ = None if remaining is None else Condition(remaining)
    key: Item | None = None
    if index is None and len(parts) == len(table.key_names) and all(op == "=" for _, op, _ in parts):
        key = {name: values[0] for name, _, values in parts}
    return ReadPlan(table, index, key_condition, filter_, projection, forward, fetch_base, key)


def _key_and_condition(table: Table, where: Node) -> tuple[Item, Node | None]:
    """The full primary key a write's WHERE pins with ``=``, and the conjuncts left (the condition)."""
    rest = conjuncts(where)
    key: Item = {}
    for name in table.key_names:
        for node in rest:
            equality = _equality(node)
            if equality is not None and equality[0] == name:
                key[name] = equality[1].value
                rest.remove(node)
                break
        else:
            raise ValidationException(NO_KEY)
    return key, joined(rest)


def _exists(table: Table) -> Node:
    return FunctionCondition(Call("attribute_exists", (Attr((table.hash_key.name,)),)))


def write_action(db: Database, statement: Statement, *, return_old_on_failure: bool = False) -> transactions.WriteAction:
    """A write statement (or EXISTS) as the engine's write action, conditions included."""
    if isinstance(statement, Insert):
        table = catalog.read_table(db, statement.table)
        absent = FunctionCondition(Call("attribute_not_exists", (Attr((table.hash_key.name,)),)))
        return transactions.WriteAction("Put", statement.table, statement.item, Condition(absent))
    if isinstance(statement, Select):
        raise ValidationException("A SELECT is not a write")
    target = statement.select if isinstance(statement, Exists) else statement
    if isinstance(target, Select) and target.index is not None:
        raise ValidationException("EXISTS reads a table, not an index")
    table = catalog.read_table(db, target.table)
    if target.where is None:
        raise ValidationException(NO_KEY)
    key, rest = _key_and_condition(table, target.where)
    if isinstance(statement, Exists):
        condition = _exists(table) if rest is None else And(_exists(table), rest)
        return transactions.WriteAction("ConditionCheck", table.name, key, Condition(condition),
                                        return_old_on_failure=return_old_on_failure)
    if isinstance(statement, Update):
        check_paths([action.target.path for action in statement.actions if isinstance(action.target, Attr)],
                    "UpdateExpression")
        condition = _exists(table) if rest is None else And(_exists(table), rest)
        return transactions.WriteAction("Update", table.name, key, Condition(condition), EngineUpdate(statement.actions),
                                        return_old_on_failure=return_old_on_failure)
    # AWS: a DELETE of no item succeeds, deleting nothing; only an item that is there can fail the WHERE.
    absent = FunctionCondition(Call("attribute_not_exists", (Attr((table.hash_key.name,)),)))
    return transactions.WriteAction("Delete", table.name, key, None if rest is None else Condition(Or(absent, rest)),
                                    return_old_on_failure=return_old_on_failure)


def full_key(db: Database, select: Select) -> tuple[Item, Condition | None]:
    """A SELECT naming one item by its full primary key (batches and transactions read only those)."""
    if select.index is not None:
        raise ValidationException("Batch and transaction reads take a table, not an index")
    if select.where is None:
        raise ValidationException(NO_KEY)
    table = catalog.read_table(db, select.table)
    key, rest = _key_and_condition(table, select.where)
    return key, None if rest is None else Condition(rest)
