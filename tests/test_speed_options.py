"""Mixed precision and torch.compile as training options: the presets, the command line, and a compiled step that
computes what the eager step computes."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from styleinv_lib.cli import build_parser
from styleinv_lib.cli_common import merge_settings
from styleinv_lib.nn.stylegan2 import SynthesisNetwork
from styleinv_lib.train import inversion, style_transfer, stylegan2, styleinv

from test_styleinv import _cfg, write_assets

TRAINING_COMMANDS = [
    ["train-stylegan2", "--data", "d", "--out", "o"],
    ["train-encoder", "--generator", "g", "--data", "d", "--out", "o"],
    ["train-styleinv", "--generator", "g", "--encoder", "e", "--data", "d", "--out", "o"],
    ["finetune-style", "--generator", "g", "--images", "i", "--out", "o"],
]
STAGES = {"stylegan2": stylegan2, "encoder": inversion, "styleinv": styleinv, "style_transfer": style_transfer}


@pytest.mark.parametrize("name", list(STAGES))
def test_presets_compile_on_the_cpu_profile_only_and_default_to_auto_precision(name):
    module = STAGES[name]
    assert module.config_for_profile("cpu").compile is True, "compile pays on the cpu profile (benchmark)"
    assert module.config_for_profile("smoke").compile is False, "a few smoke steps never repay a compilation"
    for profile in ("smoke", "cpu", "gpu"):
        assert module.config_for_profile(profile).precision == "auto"
    assert module.config_for_profile("cpu", compile=False).compile is False


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_every_training_command_takes_precision_and_compile(command):
    parser = build_parser()
    assert parser.parse_args(command).compile is None and parser.parse_args(command).precision is None
    args = parser.parse_args(command + ["--no-compile", "--precision", "fp32"])
    assert args.compile is False and args.precision == "fp32"
    assert parser.parse_args(command + ["--compile", "--precision", "bf16"]).compile is True
    with pytest.raises(SystemExit):
        parser.parse_args(command + ["--precision", "fp8"])


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_every_training_command_takes_any_setting_with_set(command):
    assert build_parser().parse_args(command + ["--set", "lr=0.001", "--set", "seed=3"]).settings == \
        ["lr=0.001", "seed=3"]


def test_settings_are_typed_by_the_config_and_checked():
    cls = styleinv.StyleInVConfig
    got = merge_settings(cls, {"batch": 4, "seed": None}, ["style_lr_multiplier=1", "min-period=null",
                                                           "augment=none", "first_frame_in_d=false", "seed=2"])
    assert got == {"batch": 4, "seed": 2, "style_lr_multiplier": 1.0, "min_period": None, "augment": "none",
                   "first_frame_in_d": False}
    assert isinstance(got["style_lr_multiplier"], float)
    cfg = styleinv.config_for_profile("smoke", **got)
    assert cfg.style_lr_multiplier == 1.0 and cfg.batch == 4 and cfg.augment == "none"
    with pytest.raises(ValueError, match="not a setting of this stage.*motion_lr_multiplier"):
        merge_settings(cls, {}, ["motion_lr=0.1"])
    with pytest.raises(ValueError, match="batch is given twice: 4 by its option and 8 by --set"):
        merge_settings(cls, {"batch": 4}, ["batch=8"])
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        merge_settings(cls, {}, ["batch"])
    with pytest.raises(ValueError, match="expected true or false"):
        merge_settings(cls, {}, ["use_encoder=1"])


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("speed"))


def test_compiled_ffa_st_step_matches_the_eager_step(assets, monkeypatch):
    """torch.compile of G's synthesis, D and StyleInV's encoder trunk (the StyleInV stage's option; the trunk at
    two clip lengths, the clip's frames and the leap penalty's run) computes the same losses as eager mode,
    to float rounding.  The graphs are traced as in training (dynamo's capture and guards, AOT autograd's backward)
    and run by the ``aot_eager`` backend: inductor's code generation would add 2-4 minutes of compilation on a
    2-core CPU to what this checks (that the stage's modules trace correctly, with nothing stale behind a guard).
    Inductor itself is tested below on G's synthesis, and ``benchmarks/train_speed.py`` times it."""
    compiled_with, real_compile = [], torch.compile

    def compile_aot_eager(module, **kwargs):
        compiled_with.append(type(module).__name__)
        return real_compile(module, backend="aot_eager", **kwargs)

    logs = {}
    for compiled in (False, True):
        torch._dynamo.reset()
        monkeypatch.setattr(torch, "compile", compile_aot_eager)
        stage = styleinv.StyleInVStage(_cfg(assets, precision="fp32", compile=compiled, r1_interval=2,
                                            lambda_uneven=1.0, uneven_tolerance=2.0))
        monkeypatch.undo()
        logs[compiled] = [stage.step(s) for s in range(2)]          # step 0 has R1 (the uncompiled D)
    assert compiled_with == ["SynthesisNetwork", "SparseVideoDiscriminator", "method"], \
        f"the stage should compile G's synthesis, D and StyleInV's trunk, compiled {compiled_with}"
    for eager, comp in zip(logs[False], logs[True]):
        assert eager.keys() == comp.keys()
        for k in eager:
            assert np.isclose(eager[k], comp[k], rtol=1e-3, atol=1e-5), (k, eager[k], comp[k])


def test_inductor_compiles_the_synthesis_network_to_the_eager_result():
    """The inductor backend that training uses, on G's synthesis at 8² (a modulated conv, upsampling, toRGB skips):
    the same images and the same gradients as eager mode, to float rounding."""
    torch.manual_seed(0)
    net = SynthesisNetwork(w_dim=16, img_resolution=8, channel_base=64, channel_max=8).train()
    ws = torch.randn(2, net.num_ws, 16)
    results = []
    for fn in (net, torch.compile(net)):
        net.zero_grad()
        w = ws.clone().requires_grad_(True)
        img = fn(w, noise_mode="const")
        img.square().mean().backward()
        results.append((img.detach(), w.grad, net.blocks[-1].conv1.weight.grad.clone()))
    for eager, compiled in zip(*results):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


def test_inductor_compiles_styleinvs_trunk_to_the_eager_result():
    """The inductor backend on StyleInV's modulated inversion (the copied encoder's BatchNorm in eval mode, PReLU,
    squeeze-excitation, the AdaIN blocks), in training mode and bf16 autocast as the cpu preset runs it: the same
    latents and the same gradients as eager mode, to bf16 rounding; and float32 to float rounding."""
    from test_styleinv import _small_G, _styleinv

    SI = _styleinv(_small_G()).train()
    x0 = torch.rand(2, 3, 32, 32) * 2 - 1
    s = torch.randn(2, 3, SI.style.style_dim)
    compiled = torch.compile(SI.modulated_inversion, dynamic=False)
    for dtype, tol in ((torch.float32, 1e-4), (torch.bfloat16, 3e-2)):
        results = []
        for fn in (SI.modulated_inversion, compiled):
            SI.zero_grad()
            style = s.clone().requires_grad_(True)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                w = fn(x0, style)
            w.square().mean().backward()
            results.append((w.detach(), style.grad, SI.adains[0].conv1.weight.grad.clone(),
                            SI.encoder.stem[0].weight.grad.clone()))
        for eager, comp in zip(*results):
            torch.testing.assert_close(comp, eager, rtol=tol, atol=tol * 0.1)


def test_compiled_activations_keep_no_boolean_mask_for_the_backward():
    """Inductor's code for a compiled bias + leaky ReLU + pad (the discriminator's pattern, channels-last, in bf16
    autocast and in fp32) writes no boolean tensor: autograd's own leaky ReLU made the partitioner keep an ``x > 0``
    mask, and torch 2.13's CPU code writes a boolean mask from float vectors about 50x slower than a bf16 tensor (see
    :func:`~styleinv_lib.nn.layers.leaky_relu_gain`); with the gradient read from the output, no mask is kept.  In
    fp32 the compiled values and gradients equal the eager ones to float rounding."""
    from torch._inductor.utils import run_and_get_code

    from styleinv_lib.nn.layers import bias_act

    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)
    b = torch.randn(16)

    def step(fn, x, b, dtype):
        x, b = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            y = torch.nn.functional.pad(fn(x.to(dtype), b), [2, 2, 2, 2])
        (y.float() * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        return y.detach().float(), x.grad, b.grad

    act = lambda x, b: bias_act(x, b, "lrelu")  # noqa: E731
    for dtype in (torch.bfloat16, torch.float32):
        torch._dynamo.reset()
        compiled, code = run_and_get_code(step, torch.compile(act, dynamic=False), x, b, dtype)
        kernels = re.findall(r"async_compile\.cpp_pybinding\(\[([^\]]*)\]", "\n".join(code))
        assert kernels, "inductor generated C++ kernels"
        assert not any("'bool*'" in k for k in kernels), (dtype, kernels)
    for e, c in zip(step(act, x, b, torch.float32), compiled):
        torch.testing.assert_close(c, e, rtol=1e-5, atol=1e-5)
