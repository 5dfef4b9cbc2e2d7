"""PConv: only the first C_out // n_div channels are convolved; the rest pass through untouched."""

import torch

from plugscaffold.modules.pconv import PartialConv


def test_untouched_channels_pass_through_exactly():
    torch.manual_seed(0)
    model = PartialConv(16, 16, n_div=4)
    x = torch.randn(2, 16, 7, 9)
    out = model(x)
    assert torch.equal(out[:, 4:], x[:, 4:])
    expected = torch.nn.functional.conv2d(x[:, :4], model.partial_conv3.weight, padding=1)
    assert (out[:, :4] - expected).abs().max().item() <= 1e-5


def test_channel_change_projects_first_then_convolves_a_part():
    # in != out: bias-free 1x1 projection (no official counterpart), then the official PConv
    torch.manual_seed(0)
    model = PartialConv(3, 8, n_div=4)
    assert set(model.state_dict()) == {"proj.weight", "partial_conv3.weight"}
    assert model.partial_conv3.weight.shape == (2, 2, 3, 3)
    x = torch.randn(2, 3, 5, 6)
    projected = torch.nn.functional.conv2d(x, model.proj.weight)
    out = model(x)
    assert (out[:, 2:] - projected[:, 2:]).abs().max().item() <= 1e-6
    assert out.shape == (2, 8, 5, 6)


def test_same_channels_has_no_projection():
    assert set(PartialConv(16, 16).state_dict()) == {"partial_conv3.weight"}
