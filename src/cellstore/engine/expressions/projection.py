"""ProjectionExpression (and legacy AttributesToGet) as a list of document paths."""

from __future__ import annotations

from cellstore.engine.expressions.context import ExpressionContext, Resolver
from cellstore.engine.expressions.parser import parse_projection_tree
from cellstore.engine.expressions.path import Path, check_paths, project_paths
from cellstore.engine.values import Item


class Projection:
    """The attributes a read returns; ``paths`` never overlap one another."""

    __slots__ = ("paths",)

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def apply(self, item: Item) -> Item:
        return project_paths(item, self.paths)

    def top_level_names(self) -> set[str]:
        """Top-level attributes named, e.g. to decide whether an index projection covers them."""
        return {str(path[0]) for path in self.paths}

    def __repr__(self) -> str:
        return f"Projection({self.paths!r})"


def parse_projection(text: str, ctx: ExpressionContext) -> Projection:
    """Parse (cached) and resolve a ProjectionExpression, refusing overlapping paths."""
    tree = parse_projection_tree(text)
    resolver = Resolver(ctx, "ProjectionExpression")
    paths = [resolver.path(ref) for ref in tree.paths]
    check_paths(paths, "ProjectionExpression")
    return Projection(paths)
