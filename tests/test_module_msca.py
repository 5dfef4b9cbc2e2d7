"""MSCA: the strip-convolution equations, computed here in NCHW, and the memory format kept."""

import torch
import torch.nn.functional as F

from plugscaffold.modules.msca import MultiScaleConvAttention


def test_equals_definition_and_keeps_memory_format():
    torch.manual_seed(4)
    model = MultiScaleConvAttention(8).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    x = torch.randn(2, 8, 12, 23)

    def conv(name, y):
        m = getattr(model, name)
        return F.conv2d(y, m.weight, m.bias, padding=m.padding, groups=m.groups)

    with torch.no_grad():
        base = conv("conv0", x)
        attn = base
        for k in range(3):
            attn = attn + conv(f"conv{k}_2", conv(f"conv{k}_1", base))
        expected = conv("conv3", attn) * x
        out = model(x)
        out_cl = model(x.contiguous(memory_format=torch.channels_last))
    assert [model.conv0_1.kernel_size, model.conv1_1.kernel_size, model.conv2_1.kernel_size] == [
        (1, 7),
        (1, 11),
        (1, 21),
    ]
    assert (out - expected).abs().max().item() <= 1e-5
    assert out.is_contiguous()
    assert out_cl.is_contiguous(memory_format=torch.channels_last)
    assert (out_cl - expected).abs().max().item() <= 1e-5
