"""``prune_traced``: validate every chain of a traced model, then shrink it; all-or-nothing.

Everything that can fail (untraceable calls, shared modules, unsupported ops, foreign
parametrizations) is checked while planning, before ``rewrite.apply_plans`` mutates anything, so an
error never leaves a half-pruned model behind.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

from torch import nn
from torch.fx import GraphModule, Node
from torch.nn.utils import parametrize

from .chains import Chain, Producer, UnsupportedChainError, WholeLayerError, walk
from .planning import Plan, plan
from .producers import producer_for
from .rewrite import apply_plans


def _call_sites(traced: GraphModule, modules: Mapping[str, nn.Module]) -> dict[int, list[Node]]:
    """``id(module) -> call_module nodes`` calling it, over the whole graph."""
    sites: dict[int, list[Node]] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            sites.setdefault(id(modules[node.target]), []).append(node)
    return sites


def _single_call(name: str, module: nn.Module, sites: Mapping[int, list[Node]], role: str) -> Node:
    nodes = sites.get(id(module), [])
    if len(nodes) == 1:
        return nodes[0]
    if not nodes:
        raise UnsupportedChainError(
            f"prune() cannot resize {name!r} ({role}): the traced graph never calls it as a module "
            "(is it used through its tensors or a functional call?); the model has not been modified"
        )
    names = [node.name for node in nodes]
    raise UnsupportedChainError(
        f"prune() cannot resize {name!r} ({role}): the traced graph calls it {len(nodes)} times "
        f"(nodes {names}); a module reused in several places cannot lose channels in only one of them; "
        "the model has not been modified"
    )


def _check_resizable(chains: Iterable[Chain], masked: set[int], sites: Mapping[int, list[Node]]) -> None:
    """Each consumer or per-channel module is called once, reached by one chain, and resizable."""
    owner: dict[int, str] = {}
    for chain in chains:
        uses = [(use.node, use.module, "next layer") for use in chain.consumers]
        uses += [(node, module, "per-channel module") for node, module in chain.channel_modules]
        for node, module, role in uses:
            _single_call(node.target, module, sites, f"{role} of {chain.producer.name!r}")
            if id(module) in owner:
                raise UnsupportedChainError(
                    f"prune() cannot resize {node.target!r}: it takes channels from both "
                    f"{owner[id(module)]!r} and {chain.producer.name!r}; the model has not been modified"
                )
            owner[id(module)] = chain.producer.name
            if parametrize.is_parametrized(module) and id(module) not in masked:
                raise UnsupportedChainError(
                    f"prune() cannot resize {node.target!r}: it carries parametrizations "
                    f"{sorted(module.parametrizations)} that this pruner did not register; "
                    "the model has not been modified"
                )


def _warn_kept(plans: Iterable[Plan]) -> None:
    for result in plans:
        for consumer, count in result.kept_for.items():
            if count:
                warnings.warn(
                    f"prune(): {count} masked channel(s) of {result.chain.producer.name!r} are kept "
                    f"because what they output (a constant transformed on the way) cannot be folded "
                    f"exactly into {consumer!r}",
                    stacklevel=4,
                )


def _walk_all(producers: Iterable[Producer], modules: Mapping[str, nn.Module]) -> tuple[list[Chain], dict[str, str]]:
    """The chain of every producer, but those reaching a layer left whole: they stay whole, and why."""
    chains, whole = [], {}
    for producer in producers:
        try:
            chains.append(walk(producer, modules))
        except WholeLayerError as error:
            whole[producer.name] = str(error)
    return chains, whole


def prune_traced(traced: GraphModule, masked_modules: Mapping[str, nn.Module]) -> dict[str, str]:
    """Shrink every module of ``masked_modules`` (fqn -> module) and its chain inside ``traced``; returns the
    masked modules left whole (their masks baked, their shapes kept) and why."""
    modules = dict(traced.named_modules(remove_duplicate=False))
    sites = _call_sites(traced, modules)
    producers = []
    for name, module in masked_modules.items():
        node = _single_call(name, module, sites, "masked layer")
        producer = producer_for(name, module, node, modules)
        if producer is not None:
            producers.append(producer)
    chains, whole = _walk_all(producers, modules)
    _check_resizable(chains, {id(module) for module in masked_modules.values()}, sites)
    plans = [plan(chain) for chain in chains]
    _warn_kept(plans)
    apply_plans(masked_modules.values(), plans)
    # Only modules change, never the graph: the code symbolic_trace generated stays valid, and
    # recompiling it again would cost a sixth of prune() on a deep MLP.
    return whole
