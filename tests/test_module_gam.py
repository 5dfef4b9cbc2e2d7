"""GAM: the paper's equations (sigmoid on the channel map, per-pixel MLP over C)."""

import pytest
import torch

from plugscaffold.modules.gam import GlobalAttentionMechanism


def _randomize(model):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)


def test_equals_paper_equations():
    # M_c(F) = sigmoid(perm^-1(MLP(perm(F)))), F1 = M_c * F;
    # M_s(F1) = sigmoid(BN(conv7(ReLU(BN(conv7(F1)))))), F2 = M_s * F1.
    model = GlobalAttentionMechanism(16, rate=4)
    _randomize(model)
    model.eval()
    x = torch.randn(2, 16, 9, 7)
    l1, l2 = model.channel_attention[0], model.channel_attention[2]
    with torch.no_grad():
        hidden = torch.relu(torch.einsum("kc,bchw->bkhw", l1.weight, x) + l1.bias[:, None, None])
        logits = torch.einsum("ck,bkhw->bchw", l2.weight, hidden) + l2.bias[:, None, None]
        f1 = x * torch.sigmoid(logits)
        expected = f1 * torch.sigmoid(model.spatial_attention(f1))
        out = model(x)
    assert (out - expected).abs().max().item() <= 1e-5


def test_channel_weights_stay_on_their_channel_in_both_layouts():
    # Every channel weight multiplies the channel it was computed for, whatever the memory format
    # (a wrong inverse permutation or view would scramble channels and pixels).
    model = GlobalAttentionMechanism(16, rate=4)
    _randomize(model)
    model.eval()
    x = torch.randn(1, 16, 5, 6)
    with torch.no_grad():
        ref = model(x)
        cl = model(x.contiguous(memory_format=torch.channels_last))
        # Swapping two pixels of the input swaps the channel map at those pixels only.
        hidden = model.channel_attention(x.permute(0, 2, 3, 1))
        swapped = x.clone()
        swapped[..., 0, 0], swapped[..., 4, 5] = x[..., 4, 5], x[..., 0, 0]
        hidden_swapped = model.channel_attention(swapped.permute(0, 2, 3, 1))
    assert (cl - ref).abs().max().item() <= 1e-5
    assert torch.equal(hidden_swapped[0, 0, 0], hidden[0, 4, 5])
    assert torch.equal(hidden_swapped[0, 4, 5], hidden[0, 0, 0])


@pytest.mark.parametrize("channels,rate", [(3, 4), (7, 8)])
def test_too_few_channels_for_rate(channels, rate):
    with pytest.raises(ValueError, match=rf"channels \({channels}\) // rate \({rate}\)"):
        GlobalAttentionMechanism(channels, rate=rate)
