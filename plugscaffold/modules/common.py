import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad H and W at the bottom/right up to the next multiple of ``multiple``."""
    # no early return when nothing is padded: a branch on the size would fix an exported
    # or traced graph to sizes on one side of it
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    return F.pad(x, (0, pad_w, 0, pad_h))
