"""ELA: equations for all four variants (T/B/S/L), per-strip GroupNorm, layouts, constraints."""

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.ela import EfficientLocalAttention

# (kernel_size, num_groups, conv_group_width) of the paper's four versions.
VARIANTS = {"T": (5, 32, 1), "B": (7, 16, 1), "S": (5, 16, 8), "L": (7, 16, 8)}


def _randomized(m):
    with torch.no_grad():
        m.gn.weight.uniform_(0.5, 1.5)
        m.gn.bias.uniform_(-0.3, 0.3)
    return m.eval()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_equals_the_definition(variant):
    # y_h = sigmoid(GN(Conv1d(mean_w x))), y_w likewise, out = x * y_h * y_w
    k, groups, width = VARIANTS[variant]
    torch.manual_seed(0)
    m = _randomized(EfficientLocalAttention(64, kernel_size=k, num_groups=groups, conv_group_width=width))
    x = torch.randn(2, 64, 9, 6)
    w = m.conv.weight
    assert w.shape == (64, width, k)
    with torch.no_grad():

        def branch(z):
            z = F.conv1d(z, w, padding=k // 2, groups=64 // width)
            return torch.sigmoid(F.group_norm(z, groups, m.gn.weight, m.gn.bias, eps=1e-5))

        y_h = branch(x.mean(dim=3))[..., None]
        y_w = branch(x.mean(dim=2))[:, :, None, :]
        assert (m(x) - x * y_h * y_w).abs().max().item() <= 1e-5


def test_default_is_ela_b_and_counts():
    m = EfficientLocalAttention(64)
    assert m.conv.kernel_size == (7,) and m.conv.groups == 64 and m.gn.num_groups == 16
    assert sum(p.numel() for p in m.parameters()) == 64 * 7 + 2 * 64
    # ELA-S / ELA-L: in_channels / 8 groups of 8 channels
    assert sum(p.numel() for p in EfficientLocalAttention(64, 5, 16, 8).parameters()) == 64 * 8 * 5 + 128


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = _randomized(EfficientLocalAttention(32))
    x = torch.randn(2, 32, 9, 7)
    with torch.no_grad():
        ref = m(x)
        cl = m(x.contiguous(memory_format=torch.channels_last))
        assert (cl - ref).abs().max().item() <= 1e-6
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize(
    "args,pattern",
    [
        ((24,), r"channels \(24\) must be divisible by num_groups \(16\)"),
        ((32, 6), r"kernel_size \(6\) must be odd"),
        ((48, 7, 16, 32), r"channels \(48\) must be divisible by conv_group_width \(32\)"),
        ((0,), r"channels \(0\)"),
    ],
)
def test_bad_arguments_raise_sentences(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        EfficientLocalAttention(*args)
