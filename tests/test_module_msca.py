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


def test_spatial_attention_wrapper_equals_segnext_spatial_attention():
    # SegNeXt mmseg/models/backbones/mscan.py SpatialAttention.forward: shortcut = x;
    # proj_1 (1x1) -> GELU -> AttentionModule -> proj_2 (1x1) -> + shortcut.
    from plugscaffold.modules.msca import MSCASpatialAttention

    torch.manual_seed(5)
    model = MSCASpatialAttention(8).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    x = torch.randn(2, 8, 10, 13)
    sd = model.state_dict()
    assert {
        "proj_1.weight",
        "spatial_gating_unit.conv0.weight",
        "spatial_gating_unit.conv3.bias",
        "proj_2.bias",
    } <= set(sd)
    assert sum(p.numel() for p in MSCASpatialAttention(64).parameters()) == 3 * 64 * 64 + 113 * 64

    def conv(name, y, groups=1):
        w, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
        return F.conv2d(y, w, b, padding=(w.shape[2] // 2, w.shape[3] // 2), groups=groups)

    with torch.no_grad():
        u = F.gelu(conv("proj_1", x))
        attn = conv("spatial_gating_unit.conv0", u, 8)
        branches = [
            conv(f"spatial_gating_unit.conv{k}_2", conv(f"spatial_gating_unit.conv{k}_1", attn, 8), 8)
            for k in range(3)
        ]
        attn = conv("spatial_gating_unit.conv3", attn + sum(branches))
        expected = conv("proj_2", attn * u) + x
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5
