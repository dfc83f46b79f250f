"""A rollback curriculum's stage start: a run that begins from an earlier stage's dataset and encoder.

Encoder rollback (the paper's Algorithm 2) splits the learner network at layer l: layers [0, l) are an encoder
trained by the outer loss, the rest a learner re-sampled every meta-epoch and trained on the synthetic set. A
*rollback curriculum* distils at l = 4, then starts l = 3 from that stage's images, labels, inner lr and the first
3 of its 4 encoder layers, and so on down to l = 0 (full distillation), each stage from the one before. The
images stay in the observation's space at every l (the encoder encodes them), so they carry over unchanged.

:func:`load_stage` reads and checks the earlier stage's directory; every mismatch is refused in one line that
names both sides, before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np

from jaxdistill.learn.dataset import (
    DatasetFileError,
    SyntheticDataset,
    hard_labels,
    load_dataset,
    load_encoder,
    load_obs_norm,
)
from jaxdistill.rl.normalize import ObsNorm


def load_stage(path: str | os.PathLike, spec, learner, k: int, num_outputs: int, hard: bool = False,
               log_std_shape: tuple[int, ...] = (), obs_norm: ObsNorm | tuple = ()) -> tuple[SyntheticDataset, list]:
    """The dataset and encoder a stage with ``learner`` (its ``encoder_layers`` l) starts from: the dataset
    saved at ``path`` by a run of the same environment, k and network with an encoder of at least l layers,
    and that encoder's first l layers. ``hard``: the labels are the fixed one-hot classes again (a soft-label
    stage's labels are not carried into a hard-label one). ``obs_norm``: the constant observation statistics this
    run's learners see through (an ES run's ``obs_stats_states``; ``()``: raw observations). X lives where the
    learners see observations, so the file must have been distilled through the same statistics (a long ES run
    going on from its own dataset in a later sitting) or through none, as this run.

    Raises :class:`~jaxdistill.learn.dataset.DatasetFileError` naming the file's side and this run's."""
    dataset, meta = load_dataset(path)
    where = os.fspath(path)
    theirs = meta.get("env_id")
    if theirs != spec.env_id:
        raise DatasetFileError(f"{where} was distilled on {theirs}, this run is on {spec.env_id}")
    if tuple(dataset.x.shape[1:]) != tuple(spec.obs_shape):
        raise DatasetFileError(f"{where} holds instances of shape {tuple(dataset.x.shape[1:])}, {spec.env_id} "
                               f"observes {tuple(spec.obs_shape)}")
    if dataset.k != k:
        raise DatasetFileError(f"{where} holds k={dataset.k} pairs, this run distils k={k}")
    if int(dataset.y.shape[1]) != num_outputs:
        raise DatasetFileError(f"{where} has labels of {int(dataset.y.shape[1])} outputs, this run's learners have "
                               f"{num_outputs}")
    if tuple(np.shape(dataset.log_std)) != tuple(log_std_shape):
        raise DatasetFileError(f"{where} has a log std of shape {tuple(np.shape(dataset.log_std))}, this run's "
                               f"policy needs {tuple(log_std_shape)}")
    check_same_statistics(where, load_obs_norm(path), obs_norm)

    encoder = load_encoder(path)
    mine = int(getattr(learner, "encoder_layers", 0))
    if len(encoder) < mine:
        raise DatasetFileError(f"{where} has an encoder of {len(encoder)} layer(s), this run's l = {mine} needs "
                               f"{mine}: roll back from a larger l (l only decreases along a curriculum)")
    if encoder:
        if not hasattr(learner, "encoder_layers"):
            raise DatasetFileError(f"{where} has an encoder of {len(encoder)} layer(s), this run's learner "
                                   f"({type(learner).__name__}) has no encoder layers")
        full = dataclasses.replace(learner, encoder_layers=len(encoder))
        expected = jax.eval_shape(lambda key: full.init_encoder(key, spec.obs_shape, num_outputs),
                                  jax.random.PRNGKey(0))
        for i, (got, want) in enumerate(zip(encoder, expected)):
            if got["w"].shape != want["w"].shape or got["b"].shape != want["b"].shape:
                raise DatasetFileError(f"{where}: encoder layer {i} has weights {tuple(got['w'].shape)}, this run's "
                                       f"network has {tuple(want['w'].shape)} there (another architecture)")
    if hard:
        dataset = dataset.replace(y=hard_labels(k, num_outputs))
    return dataset, encoder[:mine]


def check_same_statistics(where: str, theirs: ObsNorm | tuple, mine: ObsNorm | tuple) -> None:
    """Refuse a stage start whose X lives in another observation space than this run's learners see: one of the
    two normalised and the other raw, or both normalised by different statistics."""
    if not isinstance(theirs, ObsNorm) and not isinstance(mine, ObsNorm):
        return
    if not isinstance(mine, ObsNorm):
        raise DatasetFileError(f"{where} was distilled on normalised observations, this run's learners see raw "
                               "ones: only a run through the same constant statistics (--es.obs-stats-states) can "
                               "start from it")
    if not isinstance(theirs, ObsNorm):
        raise DatasetFileError(f"{where} holds X in raw observations, this run's learners see observations "
                               "normalised by --es.obs-stats-states")
    for name in ("mean", "std"):
        a, b = np.asarray(getattr(theirs, name)), np.asarray(getattr(mine, name))
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-5, atol=1e-6):
            gap = f"largest difference {np.max(np.abs(a - b)):.3g}" if a.shape == b.shape else f"{a.shape} vs {b.shape}"
            raise DatasetFileError(f"{where} was distilled through other observation statistics than this run's "
                                   f"--es.obs-stats-states (the {name}s differ: {gap})")
    if float(theirs.clip) != float(mine.clip):
        raise DatasetFileError(f"{where} clips normalised observations at {theirs.clip}, this run at {mine.clip}")
