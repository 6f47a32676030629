"""The layer chains the structured-pruning suites prune, as data: model, config, input, what shrinks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from . import structured_models as zoo


def _fqns(*module_fqns: str) -> tuple[dict[str, str], ...]:
    return tuple({"tensor_fqn": f"{fqn}.weight"} for fqn in module_fqns)


def _lstm_config(num_layers: int) -> tuple[dict[str, str], ...]:
    return tuple({"tensor_fqn": f"lstm.weight_{kind}_l{layer}"} for layer in range(num_layers) for kind in ("ih", "hh"))


@dataclass(frozen=True)
class Chain:
    """One prunable chain: a model factory, the tensors to prune, an input shape.

    ``output_layer`` names the pruned module whose rows become the model's output channels (or
    LSTM units), for chains whose output shrinks; ``beyond_torch`` marks chains torch cannot prune.

    ``prune_bias_options``: an LSTM's pruned units keep a nonzero, *recurrent* state when their
    biases are kept, which no smaller LSTM can reproduce, so LSTM chains shrink only with
    ``prune_bias=True`` (keep_bias is checked for exactness alone, in ``test_lstm_keep_bias``).
    ``layernorm`` names a LayerNorm after the pruned layer: its statistics are, by contract, taken
    over the kept units only (a full-width LayerNorm over zeros has no smaller equivalent).
    ``untouched`` names the layers outside every pruned chain (neither configured nor fed by a
    configured layer): ``prune()`` must leave their tensors bit-identical.
    """

    id: str
    model: Callable[[], nn.Module]
    config: tuple[dict[str, str], ...]
    input_shape: tuple[int, ...]
    output_layer: str | None = None
    beyond_torch: bool = False
    family: str = field(default="linear")
    prune_bias_options: tuple[bool, ...] = (True, False)
    layernorm: str | None = None
    untouched: tuple[str, ...] = ()


LINEAR_INPUT = (128, 7)
LSTM_INPUT = (6, 2, 8)  # (sequence, batch, features): several steps, so hidden state carries over

PADDED_CONVS = ("seq.0", "seq.2", "seq.4", "seq.6", "seq.8", "conv2d1", "conv2d2")
"""The convolutions of ``Conv2dPadBias`` in order: each padded chain prunes one, which feeds the next."""

CHAINS: tuple[Chain, ...] = (
    Chain("linear_linear", zoo.SimpleLinear, _fqns("seq.0", "seq.1", "seq.2"), LINEAR_INPUT, untouched=("linear2",)),
    Chain("linear_linear_across_blocks", zoo.SimpleLinear, _fqns("seq.0", "seq.1", "seq.2", "linear1"), LINEAR_INPUT),
    Chain("linear_skip_one", zoo.SimpleLinear, _fqns("seq.0", "seq.2"), LINEAR_INPUT, untouched=("linear2",)),
    Chain(
        "linear_to_output",
        zoo.SimpleLinear,
        _fqns("linear2"),
        LINEAR_INPUT,
        output_layer="linear2",
        untouched=("seq.0", "seq.1", "seq.2", "linear1"),
    ),
    Chain("linear_bias_linear", zoo.LinearBias, _fqns("seq.0", "seq.1"), LINEAR_INPUT, untouched=("seq.3", "seq.4")),
    Chain(
        "linear_bias_linear_bias", zoo.LinearBias, _fqns("seq.2", "seq.3"), LINEAR_INPUT, untouched=("seq.0", "seq.1")
    ),
    Chain(
        "linear_nobias_linear_bias",
        zoo.LinearBias,
        _fqns("seq.0", "seq.1", "seq.2"),
        LINEAR_INPUT,
        untouched=("seq.4",),
    ),
    Chain("linear_activation_linear", zoo.LinearActivation, _fqns("seq.0", "seq.2", "seq.4", "linear1"), LINEAR_INPUT),
    Chain(
        "linear_functional_activation_linear",
        zoo.LinearActivationFunctional,
        _fqns("seq.0", "seq.2", "seq.4", "linear1"),
        LINEAR_INPUT,
        untouched=("linear3",),
    ),
    Chain(
        "linear_torch_relu_dropout_linear",
        zoo.LinearTorchReluDropout,
        _fqns("linear1", "linear2"),
        LINEAR_INPUT,
        beyond_torch=True,
    ),
    Chain(
        "conv2d_conv2d", zoo.SimpleConv2d, _fqns("seq.0"), zoo.IMAGE, family="conv", untouched=("conv2d1", "conv2d2")
    ),
    Chain(
        "conv2d_conv2d_across_blocks", zoo.SimpleConv2d, _fqns("seq.0", "seq.1", "conv2d1"), zoo.IMAGE, family="conv"
    ),
    Chain(
        "conv2d_to_output",
        zoo.SimpleConv2d,
        _fqns("conv2d2"),
        zoo.IMAGE,
        output_layer="conv2d2",
        family="conv",
        untouched=("seq.0", "seq.1", "conv2d1"),
    ),
    Chain(
        "conv2d_bias_conv2d_bias",
        zoo.Conv2dBias,
        _fqns("seq.0", "seq.1"),
        zoo.IMAGE,
        family="conv",
        untouched=("conv2d1", "conv2d2"),
    ),
    Chain("conv2d_nobias_conv2d_bias", zoo.Conv2dBias, _fqns("seq.0", "seq.1", "conv2d1"), zoo.IMAGE, family="conv"),
    Chain(
        "conv2d_bias_conv2d_nobias",
        zoo.Conv2dBias,
        _fqns("seq.0", "seq.1", "seq.2"),
        zoo.IMAGE,
        family="conv",
        untouched=("conv2d2",),
    ),
    Chain(
        "conv2d_activation_conv2d",
        zoo.Conv2dActivation,
        _fqns("seq.0", "seq.2", "seq.4", "conv2d1"),
        zoo.IMAGE,
        family="conv",
    ),
    *(
        Chain(
            f"conv2d_padded_{name}",
            zoo.Conv2dPadBias,
            _fqns(PADDED_CONVS[index]),
            zoo.IMAGE,
            family="conv",
            untouched=tuple(c for c in PADDED_CONVS if c not in PADDED_CONVS[index : index + 2]),
        )
        for index, name in enumerate(
            [
                "pad_bias_to_nopad",
                "nopad_nobias_to_pad",
                "pad_bias_to_pad",
                "pad_bias_to_nopad_bias",
                "nopad_bias_to_pad",
            ]
        )
    ),
    Chain(
        "conv2d_pool_conv2d", zoo.Conv2dPool, _fqns("seq.0", "seq.3", "conv2d1", "conv2d2"), zoo.IMAGE, family="conv"
    ),
    Chain(
        "conv2d_adaptive_pool_flatten_linear",
        zoo.Conv2dPoolFlatten,
        _fqns("seq.0", "seq.3", "conv2d1", "conv2d2"),
        zoo.IMAGE,
        family="conv",
    ),
    Chain(
        "conv2d_adaptive_pool_torch_flatten_linear",
        zoo.Conv2dPoolFlattenFunctional,
        _fqns("seq.0", "seq.3", "conv2d1", "conv2d2"),
        zoo.IMAGE,
        family="conv",
    ),
    Chain(
        "conv2d_maxpool_flatten_linear",
        zoo.Conv2dMaxPoolFlattenLinear,
        _fqns("conv"),
        zoo.IMAGE,
        beyond_torch=True,
        family="conv",
    ),
    Chain(
        "conv2d_batchnorm_activation_conv2d",
        zoo.Conv2dBatchNormActivation,
        _fqns("conv1"),
        zoo.IMAGE,
        beyond_torch=True,
        family="conv",
    ),
    Chain("conv2d_prelu_conv2d", zoo.Conv2dPReLU, _fqns("conv1"), zoo.IMAGE, beyond_torch=True, family="conv"),
    *(
        Chain(
            f"lstm_{name}_{layers}layer",
            (lambda factory=factory, layers=layers: factory(num_layers=layers)),
            _lstm_config(layers),
            LSTM_INPUT,
            output_layer="lstm",
            family="lstm",
            prune_bias_options=(True,),
            layernorm=norm,
        )
        for name, factory, norm in [
            ("linear", zoo.LSTMLinear, None),
            ("layernorm_linear", zoo.LSTMLayerNormLinear, "norm"),
        ]
        for layers in (1, 2)
    ),
)

REPRESENTATIVE: tuple[str, ...] = (
    "linear_linear",
    "linear_bias_linear_bias",
    "linear_activation_linear",
    "linear_to_output",
    "conv2d_bias_conv2d_bias",
    "conv2d_padded_pad_bias_to_nopad",
    "conv2d_pool_conv2d",
    "conv2d_adaptive_pool_flatten_linear",
    "conv2d_batchnorm_activation_conv2d",
    "conv2d_prelu_conv2d",
    "lstm_layernorm_linear_2layer",
)
"""One chain per kind of rewrite prune() makes (plain, biased, activation, output, padded conv, pool,
flatten, BatchNorm, PReLU, LSTM + LayerNorm): the costlier life checks run on these, so a conformance run
stays within a minute or so on two cores; the cheap ones run on every chain."""
EXPORTED: tuple[str, ...] = (
    "linear_activation_linear",
    "conv2d_adaptive_pool_flatten_linear",
    "conv2d_batchnorm_activation_conv2d",
    "lstm_layernorm_linear_2layer",
)
"""One chain per kind of layer (linear, conv with pooling and flatten, conv with BatchNorm, LSTM with
LayerNorm): ``torch.export`` traces a model anew each time, the dearest check."""
LAYER_TYPE_OF_FAMILY: dict[str, str] = {"linear": "Linear", "conv": "Conv2d", "lstm": "LSTM"}
"""The layer type a chain's pruned layers are (``harness.tags.LAYER_TYPES``)."""
CHAINS_BY_ID: dict[str, Chain] = {chain.id: chain for chain in CHAINS}

CHAIN_CASES = [
    pytest.param(chain, prune_bias, id=f"{chain.id}-{'prune_bias' if prune_bias else 'keep_bias'}")
    for chain in CHAINS
    for prune_bias in chain.prune_bias_options
]
LSTM_CHAINS = [pytest.param(chain, id=chain.id) for chain in CHAINS if chain.family == "lstm"]


LSTM_WEIGHT_SCALE = 1.0
LSTM_BIAS_SCALE = 2.0
"""LSTM weights and biases are drawn from ``U(-scale, scale)``: with these, a pruned unit whose bias stays
alive changes the outputs by more than bfloat16's tolerance on every seed tried (10 per LSTM chain)."""


def build_chain_model(chain: Chain, device: str, dtype: torch.dtype) -> nn.Module:
    """The chain's model on ``device`` in ``dtype``, in eval mode, with distinct per-channel parameters.

    Default initialisations make every channel of a BatchNorm, LayerNorm or PReLU identical (ones,
    zeros, 0.25), so a pruner that keeps the wrong channels of them would still match the masked
    model; randomising them makes each channel's parameters its own, and such a bug visible. An
    LSTM's default ``±1/sqrt(hidden)`` draws leave what a pruned unit's kept bias leaks into the kept
    units (~0.05) within bfloat16's tolerance: its parameters are drawn wider (``LSTM_*_SCALE``).
    """
    model = chain.model()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
            if isinstance(module, (nn.BatchNorm2d, nn.LayerNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            if isinstance(module, nn.PReLU):
                module.weight.uniform_(0.05, 0.5)
            if isinstance(module, nn.LSTM):
                for name, parameter in module.named_parameters():
                    scale = LSTM_BIAS_SCALE if name.startswith("bias") else LSTM_WEIGHT_SCALE
                    parameter.uniform_(-scale, scale)
    return model.to(device=device, dtype=dtype).eval()
