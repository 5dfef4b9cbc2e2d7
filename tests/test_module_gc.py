"""GCNet: context modelling and both fusions against the paper's equations."""

import pytest
import torch
import torch.nn.functional as F

from plugscaffold.modules.gc import GlobalContextBlock


def _transform(seq, context):
    conv1, norm, conv2 = seq[0], seq[1], seq[3]
    y = F.conv2d(context, conv1.weight, conv1.bias)
    y = F.layer_norm(y, y.shape[1:], norm.weight, norm.bias, norm.eps)
    return F.conv2d(torch.relu(y), conv2.weight, conv2.bias)


@pytest.mark.parametrize("pooling_type", ["att", "avg"])
@pytest.mark.parametrize("fusion_types", [("channel_add",), ("channel_mul",), ("channel_add", "channel_mul")])
def test_equals_paper_equations(pooling_type, fusion_types):
    # z_i = x_i + T(sum_j softmax_j(W_k x_j) x_j)   (mul fusion: x_i * sigmoid(T(...)))
    torch.manual_seed(6)
    model = GlobalContextBlock(32, ratio=0.25, pooling_type=pooling_type, fusion_types=fusion_types).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(2, 32, 9, 7)
    with torch.no_grad():
        if pooling_type == "att":
            logits = F.conv2d(x, model.conv_mask.weight, model.conv_mask.bias).flatten(1)
            weights = torch.softmax(logits, dim=1)
            context = torch.einsum("bcn,bn->bc", x.flatten(2), weights)[:, :, None, None]
        else:
            context = x.mean(dim=(2, 3), keepdim=True)
        expected = x
        if "channel_mul" in fusion_types:
            expected = expected * torch.sigmoid(_transform(model.channel_mul_conv, context))
        if "channel_add" in fusion_types:
            expected = expected + _transform(model.channel_add_conv, context)
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5


def test_starts_as_identity_and_keeps_reference_shapes():
    model = GlobalContextBlock(64)
    x = torch.randn(2, 64, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), x)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "conv_mask.weight": (1, 64, 1, 1),
        "conv_mask.bias": (1,),
        "channel_add_conv.0.weight": (4, 64, 1, 1),
        "channel_add_conv.0.bias": (4,),
        "channel_add_conv.1.weight": (4, 1, 1),
        "channel_add_conv.1.bias": (4, 1, 1),
        "channel_add_conv.3.weight": (64, 4, 1, 1),
        "channel_add_conv.3.bias": (64,),
    }


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"channels \(8\) \* ratio \(0.0625\)"):
        GlobalContextBlock(8)
    with pytest.raises(ValueError, match="pooling_type"):
        GlobalContextBlock(64, pooling_type="max")
    with pytest.raises(ValueError, match="fusion_types"):
        GlobalContextBlock(64, fusion_types=("channel_cat",))
    with pytest.raises(ValueError, match="fusion_types"):
        GlobalContextBlock(64, fusion_types=())
