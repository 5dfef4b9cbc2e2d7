"""Constructor arguments as JSON: a tuple is written ``{"tuple": [...]}`` so that it comes back a tuple.

Standard library only: records.py imports it, and the worker scripts (which import nothing
from plugscaffold) load it from their own folder by its path.
"""


def encode(value):
    """A constructor argument as JSON: tuples tagged, everything else as is."""
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} is not a literal constructor argument")


def decode(value):
    """The inverse of :func:`encode`."""
    if isinstance(value, dict):
        if set(value) == {"tuple"}:
            return tuple(decode(v) for v in value["tuple"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
