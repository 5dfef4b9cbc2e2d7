"""A tiny, safe evaluator for the catalog's channel rules and constraints.

Contracts are data ("2 * in_channels", "in_channels % groups == 0"); this module
evaluates them over named integers without ``eval``. Only arithmetic, comparisons,
boolean logic, conditional expressions and ``min``/``max`` on names and literals are allowed.
"""

from __future__ import annotations

import ast
import operator
from functools import lru_cache
from typing import Any, Mapping

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


_FUNCTIONS = {"min": min, "max": max}


class ExprError(ValueError):
    """The expression uses syntax or names the evaluator does not allow."""


@lru_cache(maxsize=None)
def parse(text: str) -> ast.Expression:
    """Parse and validate ``text``; raise ExprError for anything but plain arithmetic."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"'{text}' is not a valid expression ({exc.msg})") from None
    for node in ast.walk(tree):
        allowed = (
            ast.Expression,
            ast.BinOp,
            ast.UnaryOp,
            ast.USub,
            ast.Not,
            ast.Compare,
            ast.BoolOp,
            ast.And,
            ast.Or,
            ast.Name,
            ast.Load,
            ast.Constant,
            ast.IfExp,
            *_BINARY,
            *_COMPARE,
        )
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords:
                continue
            raise ExprError(f"'{text}' calls something other than min or max")
        if not isinstance(node, allowed):
            raise ExprError(f"'{text}' uses {type(node).__name__}, which rules may not use")
    return tree


def names(text: str) -> set[str]:
    """The variable names ``text`` refers to."""
    return {n.id for n in ast.walk(parse(text)) if isinstance(n, ast.Name)} - set(_FUNCTIONS)


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate ``text`` with the variables in ``env``."""
    return _eval(parse(text).body, env, text)


def _eval(node: ast.AST, env: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env or env[node.id] is None:
            raise ExprError(f"'{text}' refers to '{node.id}', which is not known here")
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, env, text), _eval(node.right, env, text))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env, text)
        return -value if isinstance(node.op, ast.USub) else not value
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env, text) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.IfExp):
        branch = node.body if _eval(node.test, env, text) else node.orelse
        return _eval(branch, env, text)
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](*(_eval(a, env, text) for a in node.args))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env, text)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise ExprError(f"'{text}' cannot be evaluated")  # unreachable after parse()
