"""Coupled-channel masks planned by Torch-Pruning's own pruner, configured as its documentation tells a user.

The torch-pruning adapter's plain ``step()`` masks each configured layer on its own (the contract's
per-layer ``SaliencyPruner``). On a real architecture that cannot be removed: a residual add, a
depthwise convolution or an attention head ties the rows of several layers together, and Torch-Pruning
removes tied rows together. Its users do not mask layer by layer: they hand the model, an example input
and a per-model configuration to ``tp.pruner.MetaPruner`` (``BasePruner``), which plans whole groups.
This module does that on a plain copy of the prepared model and returns, per configured layer, the
output rows the plan removes; the adapter turns them into masks, so ``prune()`` removes exactly them.

The configuration is the one Torch-Pruning's examples give (``examples/transformers/prune_hf_bert.py``,
``examples/LLMs/prune_llm.py``): ``num_heads`` per query/key/value projection (key/value counted in
key/value heads), ``prune_num_heads=True`` and ``prune_head_dims=False`` (whole heads go, head size
stays), ``head_pruning_ratio`` equal to the channel ratio, the layers outside the config (the head)
in ``ignored_layers``, and group scores from ``MagnitudeImportance(p=1, group_reduction="mean")``,
the group form of the contract's row L1 norm. Heads are read from the model's attention modules (a
query/key/value trio of Linear children and a ``head_dim`` / ``attention_head_size``), as the examples'
loops over ``BertSelfAttention`` / ``self_attn`` modules do by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import parametrize

GQA_ISSUE = "https://github.com/VainF/Torch-Pruning/issues/527"
_PROJECTION_NAMES: tuple[tuple[str, str, str], ...] = (("q_proj", "k_proj", "v_proj"), ("query", "key", "value"))
_HEAD_SIZE_NAMES = ("head_dim", "attention_head_size")
_PRUNABLE = (nn.Linear, nn.Conv2d)


def grouped_query_attention(model: nn.Module) -> str | None:
    """The fqn of the first attention module whose key/value heads are shared by several query heads, or None."""
    for fqn, module in model.named_modules():
        if getattr(module, "num_key_value_groups", 1) > 1:
            return fqn
    return None


def refuse_grouped_query_attention(model: nn.Module) -> None:
    """``NotImplementedError`` before Torch-Pruning is asked to trace a model with grouped-query attention.

    Torch-Pruning 1.6.1's dependency graph never finishes on such a model (measured: a tiny Llama with
    4 query / 2 key-value heads runs over 60 s in ``_fix_dependency_graph_non_recursive``; without GQA
    the same model prunes in 0.05 s; its open issue #527). Failing at once keeps a run from hanging.
    """
    fqn = grouped_query_attention(model)
    if fqn is not None:
        raise NotImplementedError(
            f"{fqn or 'the model'} uses grouped-query attention (num_key_value_groups="
            f"{model.get_submodule(fqn).num_key_value_groups}): Torch-Pruning 1.6.1's DependencyGraph loops "
            f"forever on it ({GQA_ISSUE}); refused before tracing"
        )


def _head_size(module: nn.Module) -> int | None:
    return next(
        (getattr(module, name) for name in _HEAD_SIZE_NAMES if isinstance(getattr(module, name, None), int)), None
    )


def attention_heads(model: nn.Module) -> dict[nn.Module, int]:
    """Torch-Pruning's ``num_heads``: each query/key/value projection and the heads it holds."""
    heads: dict[nn.Module, int] = {}
    for module in model.modules():
        size = _head_size(module)
        for names in _PROJECTION_NAMES:
            projections = [getattr(module, name, None) for name in names]
            if size and all(isinstance(p, nn.Linear) for p in projections):
                heads.update({p: p.out_features // size for p in projections})
    return heads


def _plain_copy(model: nn.Module) -> nn.Module:
    """A deep copy with every parametrized tensor replaced by a plain Parameter holding its current value.

    Not ``remove_parametrizations`` on the copy: a deep copy shares its parametrized modules' generated
    classes with the original, and removing a parametrization deletes the property from that class,
    which would break the original model too.
    """
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if not parametrize.is_parametrized(module):
            continue
        values = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
        module.__class__ = parametrize.type_before_parametrizations(module)
        del module._modules["parametrizations"]
        for name, value in values.items():
            setattr(module, name, nn.Parameter(value))
    return plain


def _meta_pruner(
    model: nn.Module, example_inputs: Sequence[Any], configured: set[nn.Module], sparsity_level: float
) -> tp.pruner.BasePruner:
    ignored = [m for m in model.modules() if isinstance(m, _PRUNABLE) and m not in configured]
    return tp.pruner.BasePruner(
        model,
        example_inputs=tuple(example_inputs),
        importance=tp.importance.MagnitudeImportance(p=1, group_reduction="mean"),
        pruning_ratio=sparsity_level,
        ignored_layers=ignored,
        num_heads=attention_heads(model),
        prune_num_heads=True,
        prune_head_dims=False,
        head_pruning_ratio=sparsity_level,
    )


def plan_pruned_rows(
    model: nn.Module, module_fqns: Sequence[str], example_inputs: Sequence[Any], sparsity_level: float
) -> Mapping[str, list[int]]:
    """Per configured module fqn, the output rows Torch-Pruning's planned groups remove (sorted).

    Planned on a copy; ``model`` is not changed. Grouped-query attention is refused up front.
    """
    refuse_grouped_query_attention(model)
    plain = _plain_copy(model)
    configured = {fqn: plain.get_submodule(fqn) for fqn in module_fqns}
    fqn_of = {id(module): fqn for fqn, module in configured.items()}
    with torch.enable_grad():
        pruner = _meta_pruner(plain.eval(), example_inputs, set(configured.values()), sparsity_level)
        rows: dict[str, set[int]] = {fqn: set() for fqn in module_fqns}
        for group in pruner.step(interactive=True):  # planned, never pruned: the copy keeps its shape
            for dep, idxs in group:
                fqn = fqn_of.get(id(dep.target.module))
                if fqn is not None and pruner.DG.is_out_channel_pruning_fn(dep.handler):
                    rows[fqn].update(int(i) for i in idxs)
    return {fqn: sorted(found) for fqn, found in rows.items()}


def update_attention_sizes(model: nn.Module) -> list[str]:
    """After heads were removed: the attention modules' size attributes, as the examples set them by hand.

    Torch-Pruning shrinks the projections but not the attributes a forward reshapes with
    (``all_head_size``, ``num_attention_heads``; ``prune_hf_bert.py`` rewrites them after pruning).
    Returns the fqns updated.
    """
    updated = []
    for fqn, module in model.named_modules():
        size = _head_size(module)
        query = next((getattr(module, names[0]) for names in _PROJECTION_NAMES if hasattr(module, names[0])), None)
        if not size or not isinstance(query, nn.Linear):
            continue
        if hasattr(module, "all_head_size"):
            module.all_head_size = query.out_features
        for name in ("num_attention_heads", "num_heads"):
            if isinstance(getattr(module, name, None), int):
                setattr(module, name, query.out_features // size)
        updated.append(fqn)
    return updated
