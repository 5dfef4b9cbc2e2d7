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
def test_alexhex7_form_equals_embedded_gaussian_formula(sub_sample, bn_layer):
    # AlexHex7's NONLocalBlock2D: phi and g pooled after their convs;
    # y_i = sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j)  (no 1/sqrt(d) scaling); z = W(y) + x
    model = NonLocalBlock2d(16, sub_sample=sub_sample, bn_layer=bn_layer, form="alexhex7")
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


@pytest.mark.parametrize("bn_layer", [True, False])
@pytest.mark.parametrize("size", [(9, 7), (8, 8)])
def test_default_is_the_official_form(bn_layer, size):
    # facebookresearch/video-nonlocal-net lib/models/nonlocal_helper.py spacetime_nonlocal, in 2D:
    # max_pool = MaxPool(x, 2, stride 2); theta = conv(x); phi = conv(max_pool); g = conv(max_pool);
    # theta_phi = theta^T phi; scaled by dim_inner ** -0.5 (USE_SCALE); p = softmax over the
    # pooled positions; t = g p^T; out conv; BN; blob_in + blob_out. Written here with F ops.
    import torch.nn.functional as F

    model = NonLocalBlock2d(16, bn_layer=bn_layer)
    _randomize(model)
    model.eval()
    x = torch.randn(2, 16, *size)
    sd = model.state_dict()

    def conv(name, y):
        return F.conv2d(y, sd[f"{name}.weight"], sd[f"{name}.bias"])

    with torch.no_grad():
        b, dim_inner, h, w = 2, 8, *size
        pooled = F.max_pool2d(x, kernel_size=2, stride=2)
        theta = conv("theta", x).reshape(b, dim_inner, -1)
        phi = conv("phi", pooled).reshape(b, dim_inner, -1)
        g = conv("g", pooled).reshape(b, dim_inner, -1)
        affinity = theta.transpose(1, 2) @ phi * dim_inner**-0.5
        p = torch.softmax(affinity, dim=2)
        t = (g @ p.transpose(1, 2)).reshape(b, dim_inner, h, w)
        if bn_layer:
            out = F.batch_norm(
                conv("W.0", t),
                sd["W.1.running_mean"],
                sd["W.1.running_var"],
                sd["W.1.weight"],
                sd["W.1.bias"],
            )
        else:
            out = conv("W", t)
        expected = x + out
        got = model(x)
        alexhex7 = NonLocalBlock2d(16, bn_layer=bn_layer, form="alexhex7").eval()
        alexhex7.load_state_dict(_as_alexhex7(sd), strict=True)
        other = alexhex7(x)
    assert (got - expected).abs().max().item() <= 1e-5
    assert (other - expected).abs().max().item() > 1e-3  # the two forms differ in output


def _as_alexhex7(sd):
    """The official form's weights under AlexHex7's keys (phi.0 / g.0 inside Sequential)."""
    return {
        k.replace("phi.", "phi.0.").replace("g.", "g.0.") if k.split(".")[0] in ("phi", "g") else k: v
        for k, v in sd.items()
    }


def test_state_dict_keys_follow_the_reference_layout():
    sub = NonLocalBlock2d(8, form="alexhex7").state_dict()
    assert {"theta.weight", "phi.0.weight", "g.0.weight", "W.0.weight", "W.1.running_var"} <= set(sub)
    official = NonLocalBlock2d(8).state_dict()
    assert {"theta.weight", "phi.weight", "g.weight", "W.0.weight", "W.1.running_var"} <= set(official)
    plain = NonLocalBlock2d(8, sub_sample=False, bn_layer=False).state_dict()
    assert set(plain) == {f"{n}.{p}" for n in ("theta", "phi", "g", "W") for p in ("weight", "bias")}
    assert NonLocalBlock2d(1).inter_channels == 1
    assert NonLocalBlock2d(64, inter_channels=16).theta.out_channels == 16


def test_too_small_for_sub_sampling():
    model = NonLocalBlock2d(8)
    with pytest.raises(ValueError, match=r"1x5"):
        model(torch.randn(1, 8, 1, 5))
    assert NonLocalBlock2d(8, sub_sample=False)(torch.randn(1, 8, 1, 5)).shape == (1, 8, 1, 5)
