import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad H and W at the bottom/right up to the next multiple of ``multiple``."""
    # no early return when nothing is padded: a branch on the size would fix an exported
    # or traced graph to sizes on one side of it
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    return F.pad(x, (0, pad_w, 0, pad_h))


def require(ok: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``ok``: checks numbers edited by hand."""
    if not ok:
        raise ValueError(message)


def require_positive(**values: int) -> None:
    """Each of ``values`` is an integer of at least 1 (``True`` and ``2.0`` are not)."""
    for name, value in values.items():
        ok = type(value) is int and value >= 1
        require(ok, f"{name} ({value!r}) must be a positive integer")
