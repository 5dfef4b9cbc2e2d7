"""iAFF: the second attention stage uses its own global branch (global_att2).

The PyTorch port in YimianDai/open-aff (aff_pytorch/aff_net/fusion.py) calls global_att in
both stages and never uses global_att2; the paper's second MS-CAM and the authors' MXNet
code use a separate one. The shipped fixture ties global_att2 to global_att, so it cannot
tell the two apart; these tests pin down the corrected second stage.
"""

import torch

from plugscaffold.modules.iaff import IterativeAttentionalFeatureFusion


def _randomized(channels=16, reduction=4, seed=0):
    torch.manual_seed(seed)
    model = IterativeAttentionalFeatureFusion(channels, reduction=reduction)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_second_stage_follows_the_paper_equations():
    model = _randomized()
    x, skip = torch.randn(2, 16, 7, 9), torch.randn(2, 16, 7, 9)

    def ms_cam(local, glob, t):
        return torch.sigmoid(local(t) + glob(t))

    with torch.no_grad():
        w1 = ms_cam(model.local_att, model.global_att, x + skip)
        z = w1 * x + (1 - w1) * skip
        w2 = ms_cam(model.local_att2, model.global_att2, z)
        expected = w2 * x + (1 - w2) * skip
        out = model(x, skip)
    assert (out - expected).abs().max().item() <= 1e-5


def test_global_att2_changes_the_output_and_every_parameter_gets_a_gradient():
    model = _randomized()
    x, skip = torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        before = model(x, skip)
        model.global_att2[1].bias.add_(0.5)
        after = model(x, skip)
    assert (after - before).abs().max().item() > 1e-4
    model.train()
    model.zero_grad()
    model(x, skip).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
