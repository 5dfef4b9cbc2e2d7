from pathlib import Path

import pytest
import torch

from plugscaffold.modules.dysample import DySample

FIXTURES = Path(__file__).parent / "fixtures" / "official"


def _load(style):
    return torch.load(FIXTURES / f"dysample_{style}.pt", weights_only=True)


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_param_count_matches_official():
    # official tiny-smart/dysample DySample(64): offset 1x1 conv 64 -> 2 * 4 * 2^2 (+ bias)
    assert _n_params(DySample(64)) == 2080


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"dyscope": True}, 4128),
        ({"style": "pl"}, 136),
        ({"style": "pl", "dyscope": True}, 264),
        ({"groups": 8}, 4160),
        ({"groups": 8, "dyscope": True}, 8256),
        ({"style": "pl", "groups": 8}, 272),
        ({"style": "pl", "groups": 8, "dyscope": True}, 528),
    ],
)
def test_param_counts_other_configs_match_official(kwargs, expected):
    # measured on the official DySample(64, **kwargs)
    assert _n_params(DySample(64, **kwargs)) == expected


@pytest.mark.parametrize("style", ["lp", "pl"])
def test_state_dict_keys_and_shapes(style):
    fixture = _load(style)
    model = DySample(**fixture["config"])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = {k: tuple(v.shape) for k, v in fixture["state_dict"].items()}
    assert ours == official
    # the fresh init_pos buffer equals the official one
    assert torch.equal(model.init_pos, fixture["state_dict"]["init_pos"])


@pytest.mark.parametrize("style", ["lp", "pl"])
def test_fixture_replay(style):
    fixture = _load(style)
    model = DySample(**fixture["config"])
    model.load_state_dict(fixture["state_dict"], strict=True)
    model.eval()
    with torch.no_grad():
        out = model(fixture["input"])
    assert out.shape == fixture["output"].shape
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


@pytest.mark.parametrize("style", ["lp", "pl"])
def test_static_scope_equals_zero_dynamic_scope(style):
    # dyscope=False uses offset * 0.25; dyscope=True with a zero scope conv gives
    # offset * sigmoid(0) * 0.5, the same number (up to rounding: the static 'lp' path folds the
    # scale and init_pos into the conv), so the replayed path covers both
    fixture = _load(style)
    config = dict(fixture["config"], dyscope=False)
    static = DySample(**config)
    state = {k: v for k, v in fixture["state_dict"].items() if k != "scope.weight"}
    static.load_state_dict(state, strict=True)
    dynamic = DySample(**fixture["config"])
    dynamic.load_state_dict(
        dict(state, **{"scope.weight": torch.zeros_like(fixture["state_dict"]["scope.weight"])})
    )
    with torch.no_grad():
        torch.testing.assert_close(static(fixture["input"]), dynamic(fixture["input"]), rtol=0, atol=1e-5)


def test_fresh_module_is_close_to_bilinear():
    # official init: offset ~ N(0, 0.001), so the module starts as (almost) bilinear upsampling
    torch.manual_seed(0)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        out = DySample(8)(x)
    ref = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert (out - ref).abs().max().item() < 1e-2


@pytest.mark.parametrize("style", ["lp", "pl"])
@pytest.mark.parametrize("dyscope", [False, True])
def test_shape_backward_finite(style, dyscope):
    torch.manual_seed(0)
    model = DySample(32, style=style, groups=4, dyscope=dyscope)
    x = torch.randn(2, 32, 5, 7, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 32, 10, 14)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("scale", [1, 3])
def test_other_scales(scale):
    model = DySample(18, scale=scale, groups=2)
    out = model(torch.randn(1, 18, 4, 5))
    assert out.shape == (1, 18, 4 * scale, 5 * scale)


@pytest.mark.parametrize("style", ["lp", "pl"])
def test_channels_last(style):
    fixture = _load(style)
    model = DySample(**fixture["config"])
    model.load_state_dict(fixture["state_dict"])
    model = model.to(memory_format=torch.channels_last)
    with torch.no_grad():
        out = model(fixture["input"].to(memory_format=torch.channels_last))
    assert (out - fixture["output"]).abs().max().item() <= 1e-5


@pytest.mark.parametrize("dtype, tol", [(torch.bfloat16, 0.06), (torch.float16, 0.01)])
def test_low_precision_input(dtype, tol):
    # the sampling grid is built in float32, so only the convs and the output are rounded;
    # the official code builds it in the input dtype (bf16: 0.158, fp16: 0.020 on this fixture)
    fixture = _load("lp")
    model = DySample(**fixture["config"])
    model.load_state_dict(fixture["state_dict"])
    model = model.to(dtype)
    with torch.no_grad():
        out = model(fixture["input"].to(dtype))
    assert out.dtype == dtype
    assert (out.float() - fixture["output"]).abs().max().item() < tol


def test_autocast_cpu():
    fixture = _load("pl")
    model = DySample(**fixture["config"])
    model.load_state_dict(fixture["state_dict"])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(fixture["input"])
    assert out.dtype == torch.float32
    assert (out - fixture["output"]).abs().max().item() < 0.05


@pytest.mark.parametrize("channels, groups", [(30, 4), (64, 3), (6, 8)])
def test_channels_not_divisible_by_groups(channels, groups):
    with pytest.raises(
        ValueError, match=rf"in_channels \({channels}\) must be divisible by groups \({groups}\)"
    ):
        DySample(channels, groups=groups)


@pytest.mark.parametrize("channels", [2, 6, 18])
def test_pl_channels_not_divisible_by_scale_squared(channels):
    with pytest.raises(
        ValueError, match=rf"in_channels \({channels}\) must be divisible by scale\*\*2 \(4\)"
    ):
        DySample(channels, style="pl", groups=2)


def test_pl_groups_only_need_to_divide_in_channels():
    # as in the official code: pl with 16 channels and 8 groups is valid (16 / 4 = 4 < 8)
    out = DySample(16, style="pl", groups=8)(torch.randn(1, 16, 3, 3))
    assert out.shape == (1, 16, 6, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"style": "nearest"}, r"style \('nearest'\)"),
        ({"groups": 0}, r"groups \(0\)"),
        ({"scale": 0}, r"scale \(0\)"),
        ({"scale": 2.0}, r"scale \(2.0\)"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DySample(16, **kwargs)
