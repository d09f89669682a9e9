#!/usr/bin/env python3
"""Generate `shared/src/codat/commerce_fields.rs` from Codat's Commerce OpenAPI spec.

For each commerce record type we serve (Order, Product, ...) the generated Rust
file declares a `crate::query::Schema` constant listing every queryable property
path of that record with its kind (Text, Number, DateTime or Bool), so the query
language can check and evaluate `query=` filters against it.

How the paths are found:

- each schema's properties are walked recursively, depth first and in spec order;
  `$ref`s (JSON pointers into the spec, e.g. `#/components/schemas/Order/allOf/0`)
  are resolved, and the properties of `allOf`, `oneOf` and `anyOf` members are merged;
- arrays are transparent: `orderLineItems.productRef.id` means "the productRef.id of
  any order line item", so an array's `items` are walked under the array's own path;
- leaves are typed: a string with format `date-time`/`date`, a reference to the spec's
  `DateTime` schema, or a string (or untyped) property whose name ends in `Date`/`date`
  is DateTime; `number`/`integer` is Number; `boolean` is Bool; other strings (enums
  included) are Text; a property without a `type` is Number if its format is a number
  format (Codat's spec leaves `type` off some `"format": "decimal"` amounts), else Text;
- a map (an object with `additionalProperties`) becomes `<path>.*` of kind Text when its
  values are scalars, and is skipped otherwise (e.g. `supplementalData.content`, whose
  values are arbitrary objects);
- paths have at most 4 segments (a map's `*` counts as one); a `$ref` already being
  expanded on the current path is not entered again, which breaks reference cycles;
- duplicate paths are dropped, keeping the first;
- `modifiedDate` and `sourceModifiedDate` are added where a schema lacks them (Product does):
  every record we store carries them, and platforms pull incrementally with `modifiedDate>=...`.

Anything surprising in the spec (untyped properties, conflicting kinds, cycles, ...)
is reported on stderr; the Rust source goes to stdout.

Usage (from the repository root):

    python3 tools/gen-commerce-fields.py ../shared/reference/codat/Codat-Commerce.json \\
        > shared/src/codat/commerce_fields.rs

Standard library only.
"""

import json
import re
import sys

# The record types to generate, in output order.
SCHEMAS = [
    "CompanyInfo",
    "Customer",
    "Order",
    "Product",
    "ProductCategory",
    "Payment",
    "PaymentMethod",
    "Transaction",
    "Location",
    "TaxComponent",
    "Dispute",
]

MAX_DEPTH = 4
RECORD_DATES = ("modifiedDate", "sourceModifiedDate")
SCALAR_TYPES = ("string", "number", "integer", "boolean")
DATE_FORMATS = ("date-time", "date")
# Formats that only make sense on numbers; they type properties that lack a `type`.
NUMBER_FORMATS = ("decimal", "double", "float", "int32", "int64")
DATETIME_REF = "#/components/schemas/DateTime"
COMBINERS = ("allOf", "oneOf", "anyOf")
MAX_LINE = 120


def warn(message):
    print("warning: " + message, file=sys.stderr)


class Spec:
    def __init__(self, document):
        self.document = document
        self.warned = set()

    def warn_once(self, message):
        if message not in self.warned:
            self.warned.add(message)
            warn(message)

    def resolve(self, ref):
        """Follows a local JSON pointer such as `#/components/schemas/Order/allOf/0`."""
        if not ref.startswith("#/"):
            raise SystemExit("error: only local $refs are supported, got " + ref)
        node = self.document
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                raise SystemExit("error: unresolvable $ref " + ref)
        return node


class Shape:
    """What a schema node amounts to once `$ref`s and combiners are flattened."""

    def __init__(self):
        self.types = []  # declared types, in order of appearance, without "null"
        self.formats = []
        self.properties = []  # (name, schema node, refs on the path to it)
        self.items = []  # (schema node, refs)
        self.maps = []  # (additionalProperties value, refs)
        self.enum = False
        self.datetime_ref = False
        self.cycles = []

    def add_type(self, value):
        values = value if isinstance(value, list) else [value]
        for each in values:
            if each != "null" and each not in self.types:
                self.types.append(each)


def flatten(spec, node, refs, shape=None):
    """Merges `node`, its `$ref` target and its combiner members into one Shape.

    `refs` is the tuple of `$ref`s already expanded on the current path; the nodes
    collected in the shape remember it so that walking them keeps guarding cycles.
    """
    if shape is None:
        shape = Shape()
    if not isinstance(node, dict):
        return shape
    ref = node.get("$ref")
    if ref is not None:
        if ref == DATETIME_REF:
            shape.datetime_ref = True
        if ref in refs:
            shape.cycles.append(ref)
        else:
            flatten(spec, spec.resolve(ref), refs + (ref,), shape)
        # Siblings of `$ref` (description, nullable, required, ...) are read below too.
    if "type" in node:
        shape.add_type(node["type"])
    if "format" in node and node["format"] not in shape.formats:
        shape.formats.append(node["format"])
    if "enum" in node or "const" in node:
        shape.enum = True
    for name, child in (node.get("properties") or {}).items():
        shape.properties.append((name, child, refs))
    if "items" in node:
        shape.items.append((node["items"], refs))
    if "additionalProperties" in node and node["additionalProperties"] is not False:
        shape.maps.append((node["additionalProperties"], refs))
    for combiner in COMBINERS:
        for member in node.get(combiner) or []:
            flatten(spec, member, refs, shape)
    return shape


def is_date_name(name):
    return name.endswith("Date") or name.endswith("date")


def leaf_kind(spec, entity, shape, name, path):
    """The kind of a scalar property, or None if it isn't one."""
    types = shape.types
    where = "%s: `%s`" % (entity, ".".join(path))
    if len(types) > 1:
        spec.warn_once("%s has several types %s; treated as Text" % (where, types))
        return "Text"
    declared = types[0] if types else None
    if declared is None:
        if shape.enum:
            spec.warn_once("%s is an untyped enum; treated as Text" % where)
            return "Text"
        if any(f in NUMBER_FORMATS for f in shape.formats):
            spec.warn_once("%s has no type but format %s; treated as Number" % (where, shape.formats))
            return "Number"
        if shape.datetime_ref or is_date_name(name):
            spec.warn_once("%s has no type; DateTime by its name" % where)
            return "DateTime"
        spec.warn_once("%s has no type, properties or items; treated as Text" % where)
        return "Text"
    if declared == "string":
        if any(f in DATE_FORMATS for f in shape.formats) or shape.datetime_ref or is_date_name(name):
            return "DateTime"
        return "Text"
    if is_date_name(name):
        spec.warn_once("%s is named like a date but has type %s; kept as that type" % (where, declared))
    if declared in ("number", "integer"):
        return "Number"
    if declared == "boolean":
        return "Bool"
    return None


def is_scalar_map(spec, value, refs):
    """Whether an `additionalProperties` value describes scalar values only."""
    if not isinstance(value, dict):
        return False  # `true`: values may be anything
    shape = flatten(spec, value, refs)
    if shape.properties or shape.items or shape.maps:
        return False
    return bool(shape.types) and all(t in SCALAR_TYPES for t in shape.types)


class Walker:
    def __init__(self, spec, entity):
        self.spec = spec
        self.entity = entity
        self.fields = []  # (path, kind)
        self.kinds = {}

    def emit(self, path, kind):
        joined = ".".join(path)
        seen = self.kinds.get(joined)
        if seen is None:
            self.kinds[joined] = kind
            self.fields.append((joined, kind))
        elif seen != kind:
            self.spec.warn_once(
                "%s: `%s` is both %s and %s; keeping %s" % (self.entity, joined, seen, kind, seen)
            )

    def walk_object(self, shape, path):
        """Walks the properties, array items and map values of a flattened node at `path`."""
        for name, child, refs in shape.properties:
            self.walk_property(name, child, refs, path + [name])
        for items, refs in shape.items:
            # Arrays are transparent: an element's properties live under the array's path.
            self.walk_value(flatten(self.spec, items, refs), path[-1] if path else "", path)
        for value, refs in shape.maps:
            where = ".".join(path)
            if shape.properties:
                self.spec.warn_once("%s: `%s` has both properties and additionalProperties" % (self.entity, where))
            if not is_scalar_map(self.spec, value, refs):
                self.spec.warn_once("%s: map `%s` has non-scalar values; skipped" % (self.entity, where))
            elif len(path) + 1 > MAX_DEPTH:
                self.spec.warn_once("%s: map `%s.*` is deeper than %d; skipped" % (self.entity, where, MAX_DEPTH))
            else:
                self.emit(path + ["*"], "Text")

    def walk_property(self, name, node, refs, path):
        if len(path) > MAX_DEPTH:
            where = ".".join(path)
            self.spec.warn_once("%s: `%s` is deeper than %d segments; dropped" % (self.entity, where, MAX_DEPTH))
            return
        self.walk_value(flatten(self.spec, node, refs), name, path)

    def walk_value(self, shape, name, path):
        for ref in shape.cycles:
            self.spec.warn_once("%s: `%s` refers back to %s; not expanded" % (self.entity, ".".join(path), ref))
        if shape.properties or shape.items or shape.maps:
            self.walk_object(shape, path)
            return
        if shape.cycles and not shape.types:
            return  # nothing left once the cycle is cut
        kind = leaf_kind(self.spec, self.entity, shape, name, path)
        if kind is not None:
            self.emit(path, kind)
        elif not shape.cycles:
            self.spec.warn_once(
                "%s: `%s` is an %s without properties; skipped" % (self.entity, ".".join(path), shape.types[0])
            )


def const_name(schema):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", schema).upper()


def describe(schema):
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", schema)
    return words[0].upper() + words[1:].lower() if " " in words else words


def render(schemas):
    out = [
        "//! Queryable properties of Codat's commerce records, generated by `tools/gen-commerce-fields.py`",
        "//! from `Codat-Commerce.json`; do not edit by hand.",
        "",
        "use crate::query::{Field, FieldKind, Schema};",
    ]
    for entity, fields in schemas:
        out += [
            "",
            "/// Queryable properties of a commerce %s." % describe(entity),
            "pub const %s: Schema = Schema {" % const_name(entity),
            '    entity: "%s",' % entity,
            "    fields: &[",
        ]
        for path, kind in fields:
            out.append('        Field { path: "%s", kind: FieldKind::%s },' % (path, kind))
        out += ["    ],", "};"]
    for line in out:
        if len(line) >= MAX_LINE:
            raise SystemExit("error: generated line is too long: " + line)
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        spec = Spec(json.load(handle))
    components = spec.document.get("components", {}).get("schemas", {})
    schemas = []
    for entity in SCHEMAS:
        if entity not in components:
            raise SystemExit("error: schema %s is not in the spec" % entity)
        ref = "#/components/schemas/" + entity
        walker = Walker(spec, entity)
        walker.walk_object(flatten(spec, {"$ref": ref}, ()), [])
        if not walker.fields:
            raise SystemExit("error: schema %s has no queryable properties" % entity)
        # Codat's record metadata, which our records carry even where a schema omits it (Product):
        # platforms pull incrementally with `modifiedDate>=...`.
        for path in RECORD_DATES:
            walker.emit([path], "DateTime")
        for path, _ in walker.fields:
            if not re.fullmatch(r"[A-Za-z0-9_]+(\.([A-Za-z0-9_]+|\*))*", path):
                raise SystemExit("error: %s has an unusual path %r" % (entity, path))
        schemas.append((entity, walker.fields))
    sys.stdout.write(render(schemas))
    for entity, fields in schemas:
        print("%s: %d fields" % (entity, len(fields)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
