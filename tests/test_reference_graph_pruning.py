"""The reference's graph-based structured pruning (``reference_impl/structured/graph``), on small models.

Each model here reads a size as a Python ``int`` in its forward, which ``torch.fx.symbolic_trace``
cannot trace and ``torch.export`` can: ``prune()`` must go through the exported graph. One model per
kind of coupling (residual add, concatenation, depthwise convolution, grouped-query attention), each
checked for pruned == masked on inputs other than the example inputs, plus layers that cannot be
pruned exactly (left whole, reported) and a plan the guard on the cut must refuse.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from prunebench.reference_impl import SaliencyPruner
from prunebench.reference_impl.structured.masks import row_mask_parametrization
from torch import nn

from .conftest import SUITES, run_suites


def _untraceable(x: torch.Tensor) -> None:
    """``int(size)``: a TraceError under torch.fx, a constant under torch.export."""
    if int(x.shape[0]) < 1:
        raise ValueError("empty batch")


class ResidualNet(nn.Module):
    """conv1 and conv2 both write the residual stream (conv2 + the skip), BatchNorm after each."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv3 = nn.Conv2d(8, 6, 1)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _untraceable(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(y + self.bn2(self.conv2(y)))
        y = F.relu(self.conv3(y))
        return self.head(F.adaptive_avg_pool2d(y, 1).flatten(1))


class ConcatNet(nn.Module):
    """Two branches concatenated along channels, then one conv reading both."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.bn_b = nn.BatchNorm2d(4)
        self.c = nn.Conv2d(10, 5, 3, padding=1)
        self.head = nn.Linear(5 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _untraceable(x)
        y = torch.cat([F.relu(self.a(x)), torch.tanh(self.bn_b(self.b(x)))], dim=1)
        return self.head(F.relu(self.c(y)).flatten(1))


class DepthwiseNet(nn.Module):
    """MobileNetV2's inverted residual: expand, depthwise, project, with BatchNorm and ReLU6."""

    def __init__(self) -> None:
        super().__init__()
        self.expand = nn.Conv2d(4, 12, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.depthwise = nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False)
        self.bn2 = nn.BatchNorm2d(12)
        self.project = nn.Conv2d(12, 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _untraceable(x)
        y = F.relu6(self.bn1(self.expand(x)))
        y = F.relu6(self.bn2(self.depthwise(y)))
        y = x + self.bn3(self.project(y))
        return self.head(y.mean((2, 3)))


class GQAttention(nn.Module):
    """Grouped-query attention written as transformers writes it: 4 query heads share 2 key/value heads
    (``fused``: through ``scaled_dot_product_attention(enable_gqa=True)`` instead of explicit matmuls)."""

    def __init__(self, dim: int = 16, heads: int = 4, kv_heads: int = 2, head_dim: int = 4, fused: bool = False):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim, self.fused = heads, kv_heads, head_dim, fused
        self.q_proj = nn.Linear(dim, heads * head_dim)
        self.k_proj = nn.Linear(dim, kv_heads * head_dim)
        self.v_proj = nn.Linear(dim, kv_heads * head_dim)
        self.o_proj = nn.Linear(heads * head_dim, dim)

    def _repeat_kv(self, x: torch.Tensor) -> torch.Tensor:
        batch, kv, seq, hd = x.shape
        rep = self.num_heads // self.num_kv_heads
        return x[:, :, None].expand(batch, kv, rep, seq, hd).reshape(batch, kv * rep, seq, hd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        q = self.q_proj(x).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        else:
            scores = q @ self._repeat_kv(k).transpose(-1, -2) * self.head_dim**-0.5
            out = torch.softmax(scores, dim=-1) @ self._repeat_kv(v)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim))


class DecoderBlock(nn.Module):
    """Embedding, pre-norm GQA attention and a SwiGLU MLP on a residual stream, then a head."""

    def __init__(self, attention: nn.Module | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.norm = nn.LayerNorm(16)
        self.attn = attention or GQAttention()
        self.gate = nn.Linear(16, 24, bias=False)
        self.up = nn.Linear(16, 24, bias=False)
        self.down = nn.Linear(24, 16, bias=False)
        self.head = nn.Linear(16, 20)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _untraceable(tokens)
        h = self.embed(tokens)
        h = h + self.attn(self.norm(h))
        h = h + self.down(F.silu(self.gate(h)) * self.up(h))
        return self.head(h)


def _images(batch: int = 2, channels: int = 3, side: int = 4) -> tuple[torch.Tensor]:
    return (torch.randn(batch, channels, side, side),)


def _tokens(batch: int = 2) -> tuple[torch.Tensor]:
    return (torch.randint(0, 20, (batch, 6)),)


def _config(model: nn.Module, exclude: tuple[str, ...] = ("head",)) -> list[dict[str, str]]:
    return [
        {"tensor_fqn": f"{fqn}.weight"}
        for fqn, module in model.named_modules()
        if isinstance(module, (nn.Linear, nn.Conv2d)) and fqn not in exclude
    ]


def _keep(model: nn.Module, fqn: str) -> torch.Tensor:
    return row_mask_parametrization(model.get_submodule(fqn), "weight").mask.clone()


def _stepped(model: nn.Module, example_inputs: tuple | None, config: list | None = None) -> SaliencyPruner:
    """A SaliencyPruner at 0.5 prepared on ``model`` (every Linear / Conv2d but the head by default), stepped."""
    pruner = SaliencyPruner({"sparsity_level": 0.5})
    pruner.prepare(model, _config(model) if config is None else config, example_inputs=example_inputs)
    pruner.step()
    return pruner


def _prune(model: nn.Module, inputs: tuple, other: tuple) -> tuple[SaliencyPruner, nn.Module, dict]:
    """Prepare (with example inputs), step and prune ``model``; pruned == masked on ``inputs`` and ``other``."""
    pruner = _stepped(model.eval(), inputs)
    masks = {g["module_fqn"]: _keep(model, g["module_fqn"]) for g in pruner.groups}
    with torch.no_grad():
        masked = [model(*inputs), model(*other)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = pruner.prune()
    with torch.no_grad():
        for want, x in zip(masked, (inputs, other), strict=True):
            torch.testing.assert_close(pruned(*x), want, rtol=1e-5, atol=1e-5)
    return pruner, pruned, masks


def test_residual_add_couples_both_writers():
    torch.manual_seed(0)
    pruner, pruned, masks = _prune(ResidualNet(), _images(), _images(3))
    assert pruned is pruner.model and not isinstance(pruned, torch.fx.GraphModule)
    assert torch.equal(masks["conv1"], masks["conv2"]), "the residual stream's writers must lose the same channels"
    assert int((~masks["conv1"]).sum()) == 4
    assert pruned.conv1.out_channels == pruned.conv2.out_channels == pruned.bn2.num_features == 4
    assert pruned.conv2.in_channels == pruned.conv3.in_channels == 4
    assert pruned.conv3.out_channels == 3 and pruned.head.in_features == 3
    assert pruner.unpruned_layers == {}


def test_concatenation_cuts_each_branch_at_its_offset():
    torch.manual_seed(1)
    _, pruned, _ = _prune(ConcatNet(), _images(), _images(3))
    assert (pruned.a.out_channels, pruned.b.out_channels) == (3, 2)
    assert pruned.c.in_channels == 5 and pruned.bn_b.num_features == 2
    assert pruned.head.in_features == pruned.c.out_channels * 16


def test_depthwise_convolution_goes_with_its_expansion():
    torch.manual_seed(2)
    pruner, pruned, masks = _prune(DepthwiseNet(), _images(channels=4), _images(3, channels=4))
    assert torch.equal(masks["expand"], masks["depthwise"])
    dw = pruned.depthwise
    assert dw.groups == dw.in_channels == dw.out_channels == pruned.expand.out_channels == 6
    # the block's output is the residual stream, which the model's input starts: it stays whole
    assert set(pruner.unpruned_layers) == {"project"}
    assert "output" not in pruner.unpruned_layers["project"]


@pytest.mark.parametrize("fused", [False, True], ids=["matmul", "sdpa"])
def test_grouped_query_attention_loses_a_kv_group_with_its_query_heads(fused: bool):
    torch.manual_seed(3)
    pruner, pruned, masks = _prune(DecoderBlock(GQAttention(fused=fused)), _tokens(), _tokens(3))
    attn = pruned.attn
    assert (attn.q_proj.out_features, attn.k_proj.out_features, attn.v_proj.out_features) == (8, 4, 4)
    assert (attn.num_heads, attn.num_kv_heads, attn.o_proj.in_features) == (2, 1, 8)
    kv_kept = masks["attn.k_proj"].reshape(2, 4).all(1)
    assert torch.equal(masks["attn.q_proj"].reshape(2, 8).all(1), kv_kept), "a kv group goes with its query heads"
    assert torch.equal(masks["attn.v_proj"], masks["attn.k_proj"])
    assert torch.equal(masks["gate"], masks["up"]), "SwiGLU's gate and up are multiplied channel by channel"
    assert pruned.down.in_features == 12
    assert set(pruner.unpruned_layers) == {"attn.o_proj", "down"}


def test_layers_that_cannot_be_pruned_exactly_stay_whole_and_are_reported():
    torch.manual_seed(4)
    model = DecoderBlock().eval()
    pruner = _stepped(model, _tokens())
    for fqn in ("attn.o_proj", "down"):  # they write the residual stream: embedding, LayerNorm
        reason = pruner.unpruned_layers[fqn]
        assert "embedding 'embed'" in reason and "LayerNorm 'norm'" in reason, reason
        assert bool(_keep(model, fqn).all()), f"{fqn} is left whole, so step() keeps all its rows"
    with pytest.warns(UserWarning, match=r"2 of 7 configured layer\(s\) left whole"):
        pruned = pruner.prune()
    assert (pruned.attn.o_proj.out_features, pruned.down.out_features) == (16, 16)


def test_a_tied_weight_keeps_both_of_its_layers_whole():
    """``again`` shares ``up``'s weight: neither the channels ``up`` writes nor those ``again`` reads can shrink."""

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = nn.Linear(8, 12)
            self.down = nn.Linear(12, 8)
            self.again = nn.Linear(8, 12)
            self.again.weight = self.up.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _untraceable(x)
            return self.again(torch.relu(self.down(torch.relu(self.up(x)))))

    torch.manual_seed(9)
    config = [{"tensor_fqn": "up.weight"}, {"tensor_fqn": "down.weight"}]
    pruner = _stepped(Tied().eval(), (torch.randn(2, 8),), config)
    assert "tied" in pruner.unpruned_layers["up"] and "tied" in pruner.unpruned_layers["down"]


def test_the_guard_leaves_a_group_whole_when_the_pruned_model_computes_otherwise():
    """A head count in an attribute whose name says nothing of heads is not updated: the cut model's
    ``view`` then regroups the channels, and the check of the cut must keep those heads whole."""

    class Opaque(GQAttention):
        def __init__(self) -> None:
            super().__init__(heads=4, kv_heads=4)
            self.n = self.num_heads
            self.num_heads = self.num_kv_heads = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch, seq, _ = x.shape
            projections = (self.q_proj, self.k_proj, self.v_proj)
            q, k, v = (p(x).view(batch, seq, self.n, -1).transpose(1, 2) for p in projections)
            out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
            return self.o_proj(out.transpose(1, 2).reshape(batch, seq, -1))

    torch.manual_seed(5)
    pruner, pruned, _ = _prune(DecoderBlock(Opaque()), _tokens(), _tokens(3))
    for fqn in ("attn.q_proj", "attn.k_proj", "attn.v_proj"):
        assert "pruned model differed" in pruner.unpruned_layers[fqn], pruner.unpruned_layers[fqn]
    assert pruned.attn.q_proj.out_features == 16 and pruned.gate.out_features == 12


def test_prune_keeps_training_flags_trains_and_exports():
    torch.manual_seed(6)
    pruner = _stepped(DecoderBlock().train(), _tokens())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = pruner.prune()
    assert all(module.training for module in pruned.modules())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in pruned.parameters())
    tokens = _tokens()
    loss = pruned(*tokens).square().mean()
    loss.backward()
    torch.optim.SGD(pruned.parameters(), lr=0.1).step()
    program = torch.export.export(pruned.eval(), tokens, strict=False)
    torch.testing.assert_close(program.module()(*tokens), pruned(*tokens))


def test_squash_mask_bakes_the_batchnorm_hooks():
    """After squash_mask the model is plain and still computes what the masked model computed."""
    torch.manual_seed(8)
    model = DepthwiseNet().eval()
    inputs = _images(channels=4)
    pruner = _stepped(model, inputs)
    with torch.no_grad():
        masked = model(*inputs)
    pruner.squash_mask()
    assert not any(module._forward_hooks for module in model.modules())
    torch.testing.assert_close(model(*inputs), masked)


def test_example_inputs_at_prune_only():
    """Planned at prune(): BatchNorm outputs were never zeroed, so only BatchNorm-free groups prune."""
    torch.manual_seed(7)
    model = ResidualNet().eval()
    pruner = _stepped(model, None)
    inputs = _images()
    with torch.no_grad():
        masked = model(*inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = pruner.prune(example_inputs=inputs)
    torch.testing.assert_close(pruned(*inputs), masked)
    assert pruned.conv3.out_channels == 3
    assert "not zero where" in pruner.unpruned_layers["conv1"]


def test_untraceable_model_without_example_inputs_is_a_clear_error():
    pruner = _stepped(ResidualNet(), None)
    with pytest.raises(ValueError, match="example_inputs"):
        pruner.prune()


def test_a_model_export_cannot_capture_is_left_whole_not_crashed():
    """Data-dependent control flow stops torch.export too: every layer stays whole, masks baked, reported."""

    class DataDependent(ResidualNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) if bool(x.sum() > 0) else -super().forward(x)

    model = DataDependent().eval()
    inputs = _images()
    with pytest.warns(UserWarning, match="torch.export could not capture"):
        pruner = _stepped(model, inputs)
    with torch.no_grad():
        masked = model(*inputs)
    with pytest.warns(UserWarning, match="3 of 3 configured layer"):
        pruned = pruner.prune()
    torch.testing.assert_close(pruned(*inputs), masked)
    assert pruned.conv1.out_channels == 8 and set(pruner.unpruned_layers) == {"conv1", "conv2", "conv3"}


def test_bad_example_inputs_name_the_bad_value():
    model = ResidualNet()
    with pytest.raises(TypeError, match=r"example_inputs must be a tuple.*got dict"):
        SaliencyPruner({"sparsity_level": 0.5}).prepare(model, _config(model), example_inputs={"x": 1})


def test_traceable_model_keeps_the_fx_path():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    pruner = _stepped(model, (torch.randn(2, 4),), [{"tensor_fqn": "0.weight"}])
    assert pruner.graph is None
    assert isinstance(pruner.prune(), torch.fx.GraphModule)


ZOO_EQUALITY = f"{SUITES / 'zoo' / 'test_zoo.py'}::test_zoo_pruned_equals_masked"


ZOO_RUNS = [("reference", 0), ("tests.broken._graph_batchnorm_unhooked", 1)]


@pytest.fixture(scope="module")
def resnet_built_outside_pytester() -> None:
    """Build the zoo's ResNet here, once: pytester's in-process runs forget modules first imported inside
    them, and a forgotten ``transformers.models.*`` module breaks transformers' lazy imports in the next run."""
    pytest.importorskip("transformers")
    from prunebench.suites.zoo.models import ZOO_BY_NAME, build_model

    build_model(ZOO_BY_NAME["resnet"])


@pytest.mark.usefixtures("resnet_built_outside_pytester")
@pytest.mark.parametrize(("backend_name", "failed"), ZOO_RUNS, ids=["reference", "broken"])
def test_the_zoo_equality_check_catches_a_graph_pruner_that_is_not_exact(pytester, backend_name: str, failed: int):
    """The reference passes the zoo's pruned == masked on ResNet; a copy whose BatchNorm hooks are missing fails it."""
    result = run_suites(pytester, ZOO_EQUALITY, f"--backend={backend_name}", "-k=resnet-s0.3")
    outcomes, output = result.parseoutcomes(), result.stdout.str()
    assert outcomes.get("failed", 0) == failed and outcomes.get("passed", 0) == 1 - failed, output
    if failed:
        assert "the pruned resnet against the masked one" in output, output
