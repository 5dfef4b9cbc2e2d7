import torch

from plugscaffold.modules.adown import ADown


def test_state_dict_names_match_official():
    keys = set(ADown(8, 8).state_dict())
    expected = {
        f"{cv}.{part}"
        for cv in ("cv1", "cv2")
        for part in (
            "conv.weight",
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked",
        )
    }
    assert keys == expected


def test_branches_by_definition():
    # avg_pool2d(2, 1) -> halves -> [Conv 3x3 s2 | max_pool2d(3, 2, 1) -> Conv 1x1] -> concat
    torch.manual_seed(0)
    m = ADown(4, 6).eval()
    x = torch.randn(2, 4, 10, 6)
    a = torch.nn.functional.avg_pool2d(x, 2, 1)
    with torch.no_grad():
        y1 = m.cv1(a[:, :2])
        y2 = m.cv2(torch.nn.functional.max_pool2d(a[:, 2:], 3, 2, 1))
        assert torch.equal(m(x), torch.cat([y1, y2], 1))


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = ADown(4, 8).eval()
    x = torch.randn(2, 4, 8, 6)
    with torch.no_grad():
        ref = m(x)
        assert torch.allclose(m(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()
