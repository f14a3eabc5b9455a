"""CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable, DescribeLimits, DescribeEndpoints.

Each handler checks its request in AWS's order: first every member
constraint (one "N validation errors detected" message), then the rules
between members (key schema against attribute definitions, billing mode
against throughput, streams), and only then asks ``engine.catalog``, which
owns the rules that need the stored catalog.

Secondary indexes are validated here in full (shape, key schema, projection,
the per-table limits) and handed to the engine as ``indexes.IndexSpec``s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cellstore.api import policy_documents
from cellstore.api.registry import operation
from cellstore.api.validation import (
    TABLE_NAME_PATTERN,
    JsonKind,
    Param,
    check_type,
    constraint_errors,
    member_path,
    missing_parameter,
    raise_if_errors,
    structure_errors,
    table_name_rule,
    validate,
)
from cellstore.engine import catalog, indexes
from cellstore.engine.catalog import PAY_PER_REQUEST, PROVISIONED, StreamSpec, TableSpec, TableUpdate, Throughput
from cellstore.engine.database import Database
from cellstore.errors import INVALID_PARAMETERS, ValidationException

_ATTRIBUTE_NAME = Param("string", required=True, min_length=1, max_length=255)
KEY_ELEMENT = {"AttributeName": _ATTRIBUTE_NAME, "KeyType": Param("string", required=True, enum=("HASH", "RANGE"))}
ATTRIBUTE_DEFINITION = {
    "AttributeName": _ATTRIBUTE_NAME,
    "AttributeType": Param("string", required=True, enum=("B", "N", "S")),
}
THROUGHPUT = {
    "ReadCapacityUnits": Param("integer", required=True, min_value=1),
    "WriteCapacityUnits": Param("integer", required=True, min_value=1),
}
STREAM = {
    "StreamEnabled": Param("boolean", required=True),
    "StreamViewType": Param("string", enum=("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")),
}
TAG = {
    "Key": Param("string", required=True, min_length=1, max_length=128),
    "Value": Param("string", required=True, min_length=0, max_length=256),
}
PROJECTION = {
    "ProjectionType": Param("string", enum=("ALL", "KEYS_ONLY", "INCLUDE")),
    "NonKeyAttributes": Param("list"),
}
INDEX_NAME = Param("string", required=True, min_length=3, max_length=255, pattern=TABLE_NAME_PATTERN)
BILLING_MODE = Param("string", enum=(PROVISIONED, PAY_PER_REQUEST))
TABLE_CLASS = Param("string", enum=("STANDARD", "STANDARD_INFREQUENT_ACCESS"))

# DescribeLimits: the default quotas of the "Service, account, and table quotas" page.
ACCOUNT_MAX_CAPACITY_UNITS = 80000
TABLE_MAX_CAPACITY_UNITS = 40000
ENDPOINT_CACHE_MINUTES = 1440


# ---- member constraints ---------------------------------------------------


def _java_list(elements: Sequence[Any], kind: str, fields: Sequence[str]) -> str:
    """A list of structures as AWS's Java service prints it in a constraint message."""

    def one(element: Any) -> str:
        if not isinstance(element, dict):
            return "null"
        members = ", ".join(f"{f[:1].lower() + f[1:]}={element.get(f)}" for f in fields)
        return f"{kind}({members})"

    return "[" + ", ".join(one(e) for e in elements) + "]"


def list_errors(path: str, value: Any, rules: dict[str, Param], errors: list[str]) -> list[dict[str, Any]]:
    """Check a list of structures member by member, collecting messages; return its elements."""
    if value is None:
        return []
    check_type(path, value, "list")
    for index, element in enumerate(value):
        errors.extend(structure_errors(member_path(path, index), element, rules))
    return list(value)


def key_schema_errors(
    path: str, value: Any, errors: list[str], *, required: bool = True, most: int | None = 2
) -> list[dict[str, Any]]:
    """A KeySchema: 1 or 2 elements (a table's, an LSI's), or at least 1 (a GSI's, whose
    multi-attribute key may hold up to four HASH and four RANGE elements, counted by
    ``parse_index_key_schema``), each an attribute name and HASH/RANGE."""
    if value is None:
        errors.extend(constraint_errors(path, None, Param("list", required=required)))
        return []
    elements = list_errors(path, value, KEY_ELEMENT, errors)
    if not elements or (most is not None and len(elements) > most):
        shown = _java_list(elements, "KeySchemaElement", ("AttributeName", "KeyType"))
        bound = "greater than or equal to 1" if not elements else "less than or equal to 2"
        errors.append(f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length {bound}")
    return elements


def optional_structure(path: str, value: Any, rules: dict[str, Param], errors: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    errors.extend(structure_errors(path, value, rules))
    return dict(value)


def tag_errors(value: Any, errors: list[str], *, required: bool = False) -> tuple[tuple[str, str], ...]:
    if value is None:
        errors.extend(constraint_errors("tags", None, Param("list", required=required)))
        return ()
    tags = list_errors("tags", value, TAG, errors)
    return tuple((str(tag.get("Key")), str(tag.get("Value"))) for tag in tags)


def member_errors(payload: dict[str, Any], member: str, kind: JsonKind, rule: Param | None, errors: list[str]) -> Any:
    """One scalar member of a request: its JSON type (a wrong one fails at once, as AWS's
    deserializer does), then its constraints, whose violations join ``errors``; its value."""
    value = payload.get(member)
    if value is not None:
        check_type(member, value, kind)
    if rule is not None:
        errors.extend(constraint_errors(member[:1].lower() + member[1:], value, rule))
    return value


def table_settings_errors(payload: dict[str, Any], errors: list[str]) -> tuple[Any, Any]:
    """TableClass and DeletionProtectionEnabled, which CreateTable and UpdateTable check alike
    and last; (table class, deletion protection)."""
    table_class = member_errors(payload, "TableClass", "string", TABLE_CLASS, errors)
    protection = member_errors(payload, "DeletionProtectionEnabled", "boolean", None, errors)
    return table_class, protection


def throughput_of(raw: dict[str, Any] | None) -> Throughput | None:
    """A ProvisionedThroughput already constraint-checked, as the engine takes it."""
    return None if raw is None else Throughput(int(raw["ReadCapacityUnits"]), int(raw["WriteCapacityUnits"]))


# ---- rules between members ------------------------------------------------


def parse_key_schema(elements: list[dict[str, Any]], *, table: bool = False) -> tuple[str, str | None]:
    """(hash key, range key) of a KeySchema already constraint-checked.

    ``table``: the table's own KeySchema, where AWS answers one attribute as
    both hash and range key with "Some index key attribute have no
    definition" (observed); an index keeps the "same name" message.
    """
    first = elements[0]
    if first["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(elements) == 1:
        return first["AttributeName"], None
    second = elements[1]
    if second["KeyType"] != "RANGE":
        raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
    if second["AttributeName"] == first["AttributeName"]:
        if table:
            raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
        raise ValidationException(
            "Invalid KeySchema: Both the Hash Key and the Range Key element in the KeySchema have the same name"
        )
    return first["AttributeName"], second["AttributeName"]


def parse_index_key_schema(elements: list[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(partition attributes, sort attributes) of a GSI KeySchema already constraint-checked.

    A GSI key may have up to four HASH and four RANGE attributes (multi-attribute
    keys, DynamoDB November 2025), every HASH before every RANGE, no name twice.
    One HASH and at most one RANGE keeps the classic checks and messages.
    """
    if len(elements) == 1 or (len(elements) == 2 and elements[1]["KeyType"] == "RANGE"):
        hash_key, range_key = parse_key_schema(elements)
        return (hash_key,), () if range_key is None else (range_key,)
    if elements[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    kinds = [element["KeyType"] for element in elements]
    split = kinds.index("RANGE") if "RANGE" in kinds else len(kinds)
    if "HASH" in kinds[split:]:
        raise ValidationException(
            "Invalid KeySchema: All HASH key attributes must precede RANGE key attributes in the KeySchema"
        )
    for kind, count in (("HASH", split), ("RANGE", len(kinds) - split)):
        if count > indexes.MAX_KEY_ATTRIBUTES:
            raise ValidationException(
                f"Invalid KeySchema: The KeySchema exceeds the maximum allowed number of {kind} key attributes"
            )
    names = [element["AttributeName"] for element in elements]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise ValidationException(
            f"Invalid KeySchema: The KeySchema contains the attribute {duplicate} more than once"
        )
    return tuple(names[:split]), tuple(names[split:])


def parse_definitions(elements: list[dict[str, Any]]) -> dict[str, str]:
    definitions: dict[str, str] = {}
    for element in elements:
        name = element["AttributeName"]
        if name in definitions:
            raise ValidationException("Cannot have two attributes with the same name")
        definitions[name] = element["AttributeType"]
    return definitions


def check_defined(keys: Sequence[str], definitions: dict[str, str]) -> None:
    if any(key not in definitions for key in keys):
        raise ValidationException(
            f"{INVALID_PARAMETERS}Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(keys)}], AttributeDefinitions: [{', '.join(definitions)}]"
        )


def billing_throughput(mode: str, raw: dict[str, Any] | None) -> Throughput | None:
    if mode == PROVISIONED and raw is None:
        raise ValidationException(
            f"{INVALID_PARAMETERS}ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        )
    if mode == PAY_PER_REQUEST and raw is not None:
        raise ValidationException(
            f"{INVALID_PARAMETERS}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
            "BillingMode is PAY_PER_REQUEST"
        )
    return throughput_of(raw)


def stream_spec(raw: dict[str, Any] | None, *, creating: bool) -> StreamSpec | None:
    if raw is None:
        return None
    enabled, view_type = raw["StreamEnabled"], raw.get("StreamViewType")
    if enabled and view_type is None:
        raise ValidationException(f"{INVALID_PARAMETERS}StreamViewType is required when StreamEnabled is true")
    if not enabled and view_type is not None and creating:
        raise ValidationException(
            f"{INVALID_PARAMETERS}Table is being created with a stream disabled, UpdateViewType should not be specified"
        )
    return StreamSpec(enabled, view_type if enabled else None)


def table_name_errors(db: Database, payload: dict[str, Any], errors: list[str]) -> str:
    """TableName; its violations join ``errors``.

    A table's ARN given as TableName was already made its name by
    ``api.dispatch`` (``table_arns``), for every operation alike.
    """
    validate(payload, {})  # a payload that is not a JSON object is a serialization error
    value = payload.get("TableName")
    if value is not None:
        check_type("TableName", value, "string")
    errors.extend(constraint_errors("tableName", value, table_name_rule()))
    return str(value)


def resolve_table_name(db: Database, payload: dict[str, Any]) -> str:
    errors: list[str] = []
    name = table_name_errors(db, payload, errors)
    raise_if_errors(errors)
    return name


# ---- secondary indexes ------------------------------------------------------


def projection_errors(path: str, value: Any, errors: list[str]) -> None:
    errors.extend(structure_errors(path, value, PROJECTION, required=True))
    if value is None:
        return
    attributes = value.get("NonKeyAttributes")
    if isinstance(attributes, list):
        if not 1 <= len(attributes) <= 20:
            bound = "greater than or equal to 1" if not attributes else "less than or equal to 20"
            errors.append(
                f"Value '[{', '.join(map(str, attributes))}]' at '{path}.nonKeyAttributes' failed to satisfy "
                f"constraint: Member must have length {bound}"
            )
        for index, attribute in enumerate(attributes):
            check_type("NonKeyAttributes", attribute, "string")
            errors.extend(constraint_errors(member_path(f"{path}.nonKeyAttributes", index), attribute, _ATTRIBUTE_NAME))


def index_errors(path: str, index: Any, errors: list[str], *, is_global: bool) -> None:
    """Constraints of one LocalSecondaryIndex, GlobalSecondaryIndex or GSI Create action."""
    errors.extend(structure_errors(path, index, {"IndexName": INDEX_NAME}))
    key_schema_errors(f"{path}.keySchema", index.get("KeySchema"), errors, most=None if is_global else 2)
    projection_errors(f"{path}.projection", index.get("Projection"), errors)
    optional_structure(f"{path}.provisionedThroughput", index.get("ProvisionedThroughput"), THROUGHPUT, errors)


def index_list_errors(path: str, value: Any, errors: list[str]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    check_type(path, value, "list")
    for position, index in enumerate(value):
        index_errors(member_path(path, position), index, errors, is_global=path.startswith("global"))
    return list(value)


def index_update_errors(value: Any, errors: list[str]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    path = "globalSecondaryIndexUpdates"
    check_type(path, value, "list")
    for position, update in enumerate(value):
        element = member_path(path, position)
        errors.extend(structure_errors(element, update, {}))
        if update.get("Create") is not None:
            index_errors(f"{element}.create", update["Create"], errors, is_global=True)
        if update.get("Update") is not None:
            errors.extend(structure_errors(f"{element}.update", update["Update"], {"IndexName": INDEX_NAME}))
            optional_structure(
                f"{element}.update.provisionedThroughput", update["Update"].get("ProvisionedThroughput"), THROUGHPUT, errors
            )
        if update.get("Delete") is not None:
            errors.extend(structure_errors(f"{element}.delete", update["Delete"], {"IndexName": INDEX_NAME}))
    return list(value)


def check_projection(projection: dict[str, Any], index_name: str) -> None:
    """The rules between a Projection's members.

    A Projection without ProjectionType (and without NonKeyAttributes) is
    refused as AWS refuses it ("Unknown ProjectionType: null").  Duplicate
    NonKeyAttributes: AWS documents no text; cellstore refuses them, naming
    the index and the repeated names.
    """
    kind = projection.get("ProjectionType")
    if kind is None and projection.get("NonKeyAttributes") is None:
        raise ValidationException(f"{INVALID_PARAMETERS}Unknown ProjectionType: null")
    names = projection.get("NonKeyAttributes") or []
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationException(
            f"{INVALID_PARAMETERS}Duplicate NonKeyAttributes in the projection of index {index_name}: [{', '.join(repeated)}]"
        )
    if kind == "INCLUDE" and not projection.get("NonKeyAttributes"):
        raise ValidationException(f"{INVALID_PARAMETERS}ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    if kind != "INCLUDE" and projection.get("NonKeyAttributes") is not None:
        raise ValidationException(f"{INVALID_PARAMETERS}ProjectionType is {kind}, but NonKeyAttributes is specified")


def check_index(index: dict[str, Any], definitions: dict[str, str], billing: str, *, is_global: bool) -> list[str]:
    """The rules of one index between its members; returns its key attribute names."""
    elements = index["KeySchema"]
    if is_global:
        parse_index_key_schema(elements)
    else:
        parse_key_schema(elements)
    keys = [element["AttributeName"] for element in elements]
    check_defined(keys, definitions)
    check_projection(index["Projection"], index["IndexName"])
    name = index["IndexName"]
    if is_global and billing == PROVISIONED and index.get("ProvisionedThroughput") is None:
        raise ValidationException(f"{INVALID_PARAMETERS}ProvisionedThroughput must be specified for index: {name}")
    if is_global and billing == PAY_PER_REQUEST and index.get("ProvisionedThroughput") is not None:
        raise ValidationException(
            f"{INVALID_PARAMETERS}ProvisionedThroughput should not be specified for index: {name} when BillingMode is "
            "PAY_PER_REQUEST"
        )
    return keys


def index_spec(index: dict[str, Any]) -> indexes.IndexSpec:
    """An index definition already checked by ``check_index``, as the engine takes it."""
    hash_keys, range_keys = parse_index_key_schema(index["KeySchema"])
    projection = index["Projection"]
    throughput = index.get("ProvisionedThroughput")
    return indexes.IndexSpec(
        name=index["IndexName"],
        hash_keys=hash_keys,
        range_keys=range_keys,
        projection_type=projection.get("ProjectionType") or "ALL",
        non_key_attributes=tuple(projection.get("NonKeyAttributes") or ()),
        throughput=None
        if throughput is None
        else (int(throughput["ReadCapacityUnits"]), int(throughput["WriteCapacityUnits"])),
    )


def check_create_indexes(
    lsis: list[dict[str, Any]] | None,
    gsis: list[dict[str, Any]] | None,
    table_keys: tuple[str, str | None],
    definitions: dict[str, str],
    billing: str,
) -> tuple[tuple[indexes.IndexSpec, ...], tuple[indexes.IndexSpec, ...]]:
    """Check CreateTable's indexes as DynamoDB would; (local, global) index specs."""
    if lsis is None and gsis is None:
        return (), ()
    if lsis is not None and len(lsis) > indexes.MAX_LOCAL:
        raise ValidationException(f"Cannot have more than {indexes.MAX_LOCAL} local secondary indexes per table")
    if gsis is not None and len(gsis) > indexes.MAX_GLOBAL:
        raise ValidationException(f"Cannot have more than {indexes.MAX_GLOBAL} global secondary indexes per table")
    hash_key, range_key = table_keys
    used = {hash_key} | ({range_key} if range_key else set())
    names: set[str] = set()
    for kind, group in (("LocalSecondaryIndexes", lsis), ("GlobalSecondaryIndexes", gsis)):
        if group is not None and not group:
            raise ValidationException(f"{INVALID_PARAMETERS}List of {kind} is empty")
        for index in group or []:
            keys = check_index(index, definitions, billing, is_global=kind.startswith("Global"))
            name = index["IndexName"]
            if name in names:
                raise ValidationException(f"{INVALID_PARAMETERS}Duplicate index name: {name}")
            names.add(name)
            if kind.startswith("Local"):
                if range_key is None:
                    raise ValidationException(
                        f"{INVALID_PARAMETERS}Table KeySchema does not have a range key, which is required when "
                        "specifying a LocalSecondaryIndex"
                    )
                if len(keys) < 2:
                    raise ValidationException(f"{INVALID_PARAMETERS}Index KeySchema does not have a range key for index: {name}")
                if keys[0] != hash_key:
                    raise ValidationException(
                        f"{INVALID_PARAMETERS}Index KeySchema does not have the same leading hash key as table KeySchema "
                        f"for index: {name}. index hash key: {keys[0]}, table hash key: {hash_key}"
                    )
            used.update(keys)
    if set(definitions) - used:
        raise ValidationException(
            f"{INVALID_PARAMETERS}Some AttributeDefinitions are not used. AttributeDefinitions: "
            f"[{', '.join(definitions)}], keys used: [{', '.join(sorted(used))}]"
        )
    indexes.check_projected_total([index["Projection"] for index in (lsis or []) + (gsis or [])])
    return tuple(index_spec(i) for i in lsis or []), tuple(index_spec(i) for i in gsis or [])


def check_index_updates(
    updates: list[dict[str, Any]], definitions: dict[str, str], billing: str
) -> tuple[indexes.IndexUpdate, ...]:
    """Check UpdateTable's GlobalSecondaryIndexUpdates as DynamoDB would; the engine's updates."""
    checked = []
    for update in updates:
        actions = [action for action in ("Create", "Update", "Delete") if update.get(action) is not None]
        if len(actions) != 1:
            raise ValidationException(
                f"{INVALID_PARAMETERS}One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update or "
                "GlobalSecondaryIndexUpdate.Delete must be specified"
            )
        action = actions[0]
        body = update[action]
        if action == "Create":
            check_index(body, definitions, billing, is_global=True)
            checked.append(indexes.IndexUpdate("Create", body["IndexName"], create=index_spec(body)))
        elif action == "Update":
            raw = body.get("ProvisionedThroughput")
            throughput = None if raw is None else (int(raw["ReadCapacityUnits"]), int(raw["WriteCapacityUnits"]))
            checked.append(indexes.IndexUpdate("Update", body["IndexName"], throughput=throughput))
        else:
            checked.append(indexes.IndexUpdate("Delete", body["IndexName"]))
    return tuple(checked)


# ---- operations -----------------------------------------------------------


@operation("CreateTable")
def create_table(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {})  # a payload that is not a JSON object is a serialization error
    errors: list[str] = []
    raw_definitions = payload.get("AttributeDefinitions")
    if raw_definitions is None:
        errors.extend(constraint_errors("attributeDefinitions", None, Param("list", required=True)))
    definitions = list_errors("attributeDefinitions", raw_definitions, ATTRIBUTE_DEFINITION, errors)
    name = member_errors(payload, "TableName", "string", table_name_rule(), errors)
    key_schema = key_schema_errors("keySchema", payload.get("KeySchema"), errors)
    lsis = index_list_errors("localSecondaryIndexes", payload.get("LocalSecondaryIndexes"), errors)
    gsis = index_list_errors("globalSecondaryIndexes", payload.get("GlobalSecondaryIndexes"), errors)
    mode = member_errors(payload, "BillingMode", "string", BILLING_MODE, errors)
    throughput = optional_structure("provisionedThroughput", payload.get("ProvisionedThroughput"), THROUGHPUT, errors)
    stream = optional_structure("streamSpecification", payload.get("StreamSpecification"), STREAM, errors)
    tags = tag_errors(payload.get("Tags"), errors)
    table_class, protection = table_settings_errors(payload, errors)
    raise_if_errors(errors)

    attribute_types = parse_definitions(definitions)
    hash_key, range_key = parse_key_schema(key_schema, table=True)
    check_defined([e["AttributeName"] for e in key_schema], attribute_types)
    billing = mode or PROVISIONED
    spec_throughput = billing_throughput(billing, throughput)
    local_indexes, global_indexes = check_create_indexes(lsis, gsis, (hash_key, range_key), attribute_types, billing)
    if lsis is None and gsis is None and len(attribute_types) != len(key_schema):
        raise ValidationException(
            f"{INVALID_PARAMETERS}Number of attributes in KeySchema does not exactly match number of attributes "
            "defined in AttributeDefinitions"
        )
    resource_policy = payload.get("ResourcePolicy")
    if resource_policy is not None:
        check_type("ResourcePolicy", resource_policy, "string")
        policy_documents.check_document(resource_policy, db.table_arn(str(name)), "table")
    spec = TableSpec(
        name=str(name),
        attribute_definitions=tuple(attribute_types.items()),
        hash_key=hash_key,
        range_key=range_key,
        billing_mode=billing,
        throughput=spec_throughput,
        table_class=table_class,
        deletion_protection=bool(protection),
        stream=stream_spec(stream, creating=True),
        tags=tags,
        local_indexes=local_indexes,
        global_indexes=global_indexes,
    )
    description = catalog.create_table(db, spec)
    if resource_policy is not None:  # attached as PutResourcePolicy would, right after the table exists
        catalog.put_resource_policy(db, spec.name, db.table_arn(spec.name), resource_policy, None)
    return {"TableDescription": description}


def _require_table_name(payload: dict[str, Any]) -> None:
    """DescribeTable and UpdateTable without TableName: AWS's observed answer."""
    validate(payload, {})  # a payload that is not a JSON object is a serialization error
    if payload.get("TableName") is None:
        raise missing_parameter("TableName")


@operation("DescribeTable")
def describe_table(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    _require_table_name(payload)
    return {"Table": catalog.describe_table(db, resolve_table_name(db, payload))}


@operation("DeleteTable")
def delete_table(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    return {"TableDescription": catalog.delete_table(db, resolve_table_name(db, payload))}


@operation("ListTables")
def list_tables(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(
        payload,
        {
            "ExclusiveStartTableName": table_name_rule(required=False),
            "Limit": Param("integer", min_value=1, max_value=100),
        },
    )
    limit = int(payload.get("Limit") or 100)
    names, more = catalog.list_table_names(db, payload.get("ExclusiveStartTableName"), limit)
    response: dict[str, Any] = {"TableNames": names}
    if more:
        response["LastEvaluatedTableName"] = names[-1]
    return response


@operation("UpdateTable")
def update_table(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    _require_table_name(payload)
    errors: list[str] = []
    name = table_name_errors(db, payload, errors)
    definitions = list_errors("attributeDefinitions", payload.get("AttributeDefinitions"), ATTRIBUTE_DEFINITION, errors)
    mode = member_errors(payload, "BillingMode", "string", BILLING_MODE, errors)
    throughput = optional_structure("provisionedThroughput", payload.get("ProvisionedThroughput"), THROUGHPUT, errors)
    index_updates = index_update_errors(payload.get("GlobalSecondaryIndexUpdates"), errors)
    stream = optional_structure("streamSpecification", payload.get("StreamSpecification"), STREAM, errors)
    table_class, protection = table_settings_errors(payload, errors)
    raise_if_errors(errors)

    if not any(x is not None for x in (mode, throughput, stream, table_class, protection)) and not index_updates:
        raise ValidationException(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
        )
    checked_updates: tuple[indexes.IndexUpdate, ...] = ()
    attribute_types = parse_definitions(definitions)
    if index_updates:
        current = catalog.describe_table(db, name)
        known = {d["AttributeName"]: d["AttributeType"] for d in current["AttributeDefinitions"]}
        billing = mode or current["BillingModeSummary"]["BillingMode"]
        # A Create's key attributes must be in this request's AttributeDefinitions
        # ("must include the key element(s) of the new index"), even when the
        # table already defines them.
        creates = [u["Create"] for u in index_updates if isinstance(u, dict) and u.get("Create") is not None]
        for create in creates:
            check_defined([element["AttributeName"] for element in create["KeySchema"]], attribute_types)
        checked_updates = check_index_updates(index_updates, {**known, **attribute_types}, billing)
    update = TableUpdate(
        billing_mode=mode,
        throughput=throughput_of(throughput),
        table_class=table_class,
        deletion_protection=protection,
        stream=stream_spec(stream, creating=False),
        index_updates=checked_updates,
        attribute_definitions=tuple(attribute_types.items()),
    )
    return {"TableDescription": catalog.update_table(db, name, update)}


@operation("DescribeLimits")
def describe_limits(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {})
    return {
        "AccountMaxReadCapacityUnits": ACCOUNT_MAX_CAPACITY_UNITS,
        "AccountMaxWriteCapacityUnits": ACCOUNT_MAX_CAPACITY_UNITS,
        "TableMaxReadCapacityUnits": TABLE_MAX_CAPACITY_UNITS,
        "TableMaxWriteCapacityUnits": TABLE_MAX_CAPACITY_UNITS,
    }


@operation("DescribeEndpoints")
def describe_endpoints(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {})
    return {
        "Endpoints": [
            {"Address": f"dynamodb.{db.region}.amazonaws.com", "CachePeriodInMinutes": ENDPOINT_CACHE_MINUTES}
        ]
    }
