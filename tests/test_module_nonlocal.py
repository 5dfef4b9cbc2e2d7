"""Non-local block: the fused attention call equals the embedded-Gaussian formula."""

import pytest
import torch

from plugscaffold.modules.non_local import NonLocalBlock2d


def _randomize(model):
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)


@pytest.mark.parametrize("sub_sample", [True, False])
@pytest.mark.parametrize("bn_layer", [True, False])
def test_equals_embedded_gaussian_formula(sub_sample, bn_layer):
    # y_i = sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j)  (no 1/sqrt(d) scaling); z = W(y) + x
    model = NonLocalBlock2d(16, sub_sample=sub_sample, bn_layer=bn_layer)
    _randomize(model)
    model.eval()
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        theta = model.theta(x).flatten(2)  # (B, d, N)
        phi = model.phi(x).flatten(2)  # (B, d, M)
        g = model.g(x).flatten(2)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, N, M)
        y = (attn @ g.transpose(1, 2)).transpose(1, 2).reshape(2, 8, 9, 7)
        expected = model.W(y) + x
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5


def test_starts_as_identity():
    x = torch.randn(2, 16, 8, 8)
    for bn_layer in (True, False):
        model = NonLocalBlock2d(16, bn_layer=bn_layer).eval()
        with torch.no_grad():
            assert torch.equal(model(x), x)


def test_state_dict_keys_follow_the_reference_layout():
    sub = NonLocalBlock2d(8).state_dict()
    assert {"theta.weight", "phi.0.weight", "g.0.weight", "W.0.weight", "W.1.running_var"} <= set(sub)
    plain = NonLocalBlock2d(8, sub_sample=False, bn_layer=False).state_dict()
    assert set(plain) == {f"{n}.{p}" for n in ("theta", "phi", "g", "W") for p in ("weight", "bias")}
    assert NonLocalBlock2d(1).inter_channels == 1
    assert NonLocalBlock2d(64, inter_channels=16).theta.out_channels == 16


def test_too_small_for_sub_sampling():
    model = NonLocalBlock2d(8)
    with pytest.raises(ValueError, match=r"1x5"):
        model(torch.randn(1, 8, 1, 5))
    assert NonLocalBlock2d(8, sub_sample=False)(torch.randn(1, 8, 1, 5)).shape == (1, 8, 1, 5)
