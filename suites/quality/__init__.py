"""The quality suite: how much a pruner's model loses at a given sparsity or cost, measured one way for all.

ShrinkBench's protocol (Blalock et al., 2020) on models trained here from offline data: the same trained
dense model, the same layers configured, a grid of levels, quality right after pruning and after one
fine-tuning budget shared by every method, over several seeds, with the compression actually reached.
One job per module: ``data`` (the data sets and their hashes), ``models`` (architectures and their
training settings), ``tasks`` (batches, loss and quality metric per data set), ``training`` (the seeded
optimisation loop, masks kept), ``cache`` (trained checkpoints reused across runs), ``costs`` (what a
pruned model keeps), ``methods`` (how each backend's rule prunes a model: a registry of records),
``random_masks`` (the floor), ``protocol`` (the grid), ``stats`` (mean, spread, differences beyond it),
``summary`` (cells into rows), ``anchors`` (the papers' ordering), ``check`` (the ranking check CI runs),
``report`` / ``plots`` (the published form) and ``command`` (``prunebench quality``).
"""
