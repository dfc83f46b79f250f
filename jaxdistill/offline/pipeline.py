"""The offline-distillation study as resumable stages: expert -> data -> percentile BC -> gradient matching
-> evaluation. Each stage writes into the run directory and is skipped when its output is already
there, so a killed study continues where it stopped (the distillation itself resumes from its
checkpoints):

* ``expert/``: a PPO run (``policy/`` is the expert), unless an expert policy is given;
* ``minari/<dataset id>/``: the expert's episodes as a Minari dataset, unless data is given;
* ``bc.json``: every percentile-BC row (students trained and evaluated), appended per method;
* ``distill/``: the gradient-matching run (``metrics.csv``, ``checkpoints/``, ``dataset/``, ``dataset.png``);
* ``results.json`` (a ``methods`` list: method, split, mean, std, students, episodes, dataset_size),
  ``results.md`` and ``methods.png`` (in- and out-of-distribution bars per method).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.core.loop import config_to_dict, run_keys, train_loop
from jaxdistill.distill.behaviour_matching import (
    NEEDS_EXPERT,
    BMConfig,
    expert_targets,
    make_behaviour_matching,
    real_source,
    value_weights,
)
from jaxdistill.distill.gradient_matching import (
    GMConfig,
    group_by_class,
    init_synthetic,
    make_gradient_matching,
)
from jaxdistill.eval.students import make_student_evaluate, summary
from jaxdistill.learn.dataset import SyntheticDataset, save_dataset
from jaxdistill.learn.students import StudentTraining, train_students
from jaxdistill.offline.collect import record_episodes
from jaxdistill.offline.data import OfflineData, read_minari, write_minari
from jaxdistill.policy.distributions import for_spec

STAGES = ("expert", "data", "bc", "distill", "evaluate")
SPLITS = ("id", "ood")
"""In distribution (the levels the data was recorded on) and out of distribution (unseen levels)."""


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    episodes: int = 100
    """Expert episodes recorded as offline data."""
    percents: tuple[float, ...] = (10.0, 25.0, 40.0, 100.0)
    """Percentile BC: keep the top p % of episodes by return."""
    students: int = 100
    """Students trained per method (one vmapped call)."""
    episodes_per_student: int = 1
    """Evaluation episodes per student and split."""
    eval_max_steps: int | None = None
    """Cut every evaluation episode (students, expert, random policy) at this many steps; None: each runs to the
    environment's own limit, the studies' protocol. (The expert's recorded data always runs whole episodes.)"""
    greedy: bool = False
    """Students act by their argmax / mean (else they sample, like the expert that made the data)."""
    bc: StudentTraining = StudentTraining(steps=1000, batch_size=256, lr=5e-3)
    """Students on real data (the paper: Adam 5e-3, 1000 steps of 256)."""
    synthetic: StudentTraining = StudentTraining(steps=100, batch_size=15, lr=5e-3)
    """Students on the synthetic set (the paper: Adam 5e-3, 100 steps of 15; ``optimizer="sgd", steps=1``
    is PPMO's one-step protocol)."""
    method: Literal["gm", "bm"] = "gm"
    """The distiller: gm (gradient matching at initialisation, the paper's; its students train by
    ``synthetic``) or bm (behaviour matching: back-propagation through the students' whole training, as Offline
    Behavior Distillation; its students train by ``bm``'s inner loop, in distillation and evaluation alike)."""
    gm: GMConfig = GMConfig()
    """Gradient matching."""
    bm: BMConfig = BMConfig()
    """Behaviour matching."""
    eval_every: int = 100
    """Distillation epochs between progress rows (and checkpoint chances)."""
    ensemble: int = 0
    """Also evaluate the distilled set by ensembles of this many students (each acting by its members' mean
    action probabilities; ``students`` ensembles); 0: no ensemble row."""


def _log(message: str) -> None:
    print(f"[jaxdistill] {message}", file=sys.stderr)


def get_data(run_dir: Path, env, expert, config: StudyConfig, seed: int, data_source: str | None,
             dataset_id: str) -> OfflineData:
    """The offline data: given (``data_source``), already recorded, or recorded now from ``expert``."""
    if data_source is not None:
        return read_minari(data_source, env.spec if env is not None else None)
    path = run_dir / "minari" / dataset_id
    if path.exists():
        _log(f"data: reading {path}")
        return read_minari(path, env.spec)
    _log(f"data: recording {config.episodes} expert episodes on {env.spec.env_id}")
    policy = expert()
    data = record_episodes(env, jax.random.fold_in(run_keys(seed)[2], 7), policy.policy, policy.params, policy.dist,
                           config.episodes)
    write_minari(data, run_dir / "minari", dataset_id, algorithm_name="PPO (jaxdistill)",
                 description=f"{config.episodes} episodes of a PPO expert on {env.spec.env_id} (sampled actions)")
    return data


def _targets(spec, actions: np.ndarray):
    return jnp.asarray(actions, jnp.int32 if spec.discrete else jnp.float32)


class Evaluator:
    """Trains and evaluates a method's students on every split (one compilation per set size)."""

    def __init__(self, splits: dict[str, Any], student_spec, dist, config: StudyConfig, seed: int):
        self.splits, self.spec, self.dist, self.config = splits, student_spec, dist, config
        self.key = run_keys(seed)[2]
        self._train = jax.jit(train_students, static_argnums=(1, 2, 5, 6))
        self._eval: dict[tuple[str, int], Any] = {}

    def _evaluate(self, split: str, ensemble: int):
        if (split, ensemble) not in self._eval:
            self._eval[split, ensemble] = make_student_evaluate(
                self.splits[split], self.spec, self.dist, self.config.students, self.config.episodes_per_student,
                self.config.greedy, self.config.eval_max_steps, ensemble=ensemble)
        return self._eval[split, ensemble]

    def rows(self, method: str, x, targets, training: StudentTraining, dataset_size: int,
             ensemble: int = 1) -> list[dict]:
        """``method``'s row per split: ``students`` fresh students (or ensembles of ``ensemble`` students, each
        acting by the members' mean action probabilities) trained by ``training`` on ``(x, targets)``."""
        t0 = time.perf_counter()
        n = self.config.students
        students = self._train(jax.random.fold_in(self.key, zlib.crc32(method.encode())), self.spec, self.dist,
                               jnp.asarray(x), targets, training, n * ensemble)
        if ensemble > 1:
            students = jax.tree_util.tree_map(lambda p: p.reshape(n, ensemble, *p.shape[1:]), students)
        jax.block_until_ready(students)
        t_train = time.perf_counter() - t0
        out = []
        for split in self.splits:
            returns = np.asarray(self._evaluate(split, ensemble)(jax.random.fold_in(self.key, 1000 + SPLITS.index(split)),
                                                                 students))
            out.append({"method": method, "split": split, **summary(returns), "dataset_size": int(dataset_size),
                        "train_seconds": t_train, **({"ensemble": ensemble} if ensemble > 1 else {})})
            _log(f"{method} ({split}): {out[-1]['mean']:.2f} ± {out[-1]['std']:.2f} over {out[-1]['episodes']} "
                 f"episodes of {out[-1]['students']} {'ensembles' if ensemble > 1 else 'students'} "
                 f"({dataset_size} samples)")
        return out


def run_bc(run_dir: Path, data: OfflineData, evaluator: Evaluator, config: StudyConfig) -> list[dict]:
    """Percentile-BC rows, resumed from ``bc.json``."""
    path = run_dir / "bc.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    for p in config.percents:
        method = f"bc{p:g}"
        if any(r["method"] == method for r in rows):
            continue
        subset = data.top_percent(p)
        x, actions = subset.transitions()
        rows += evaluator.rows(method, x, _targets(data.spec, actions), config.bc, len(x))
        path.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def initial_set(data: OfflineData, real, k: int, seed: int, expert=None) -> tuple[SyntheticDataset, np.ndarray]:
    """The set every distiller starts from: ``k`` real states stratified by action (for discrete actions, split
    evenly over the actions the data holds), and the set's action classes. Labels: one-hot actions / recorded
    targets, or with an ``expert`` its action probabilities / means on those states. ``real``: the data grouped
    by class (:func:`group_by_class`)."""
    num_actions = data.spec.num_actions if data.spec.discrete else None
    dataset, classes = init_synthetic(jax.random.fold_in(run_keys(seed)[0], 11), real, k, num_actions)
    if expert is not None:
        dataset = dataset.replace(y=jnp.asarray(expert_targets(expert, np.asarray(dataset.x), data.spec.discrete)))
    return dataset, classes


def distiller(data: OfflineData, student_spec, config: StudyConfig, seed: int, per_chunk: int, expert=None):
    """``(trainer, initial set, classes, flat config, metadata, evaluation training)`` of ``config.method``."""
    spec = data.spec
    dist = for_spec(spec)
    x, actions = data.transitions()
    grouped = group_by_class(x, actions, spec.num_actions if spec.discrete else None)
    if config.method == "gm":
        dataset, classes = initial_set(data, grouped, config.gm.k, seed)
        trainer = make_gradient_matching(config.gm, student_spec, dist, grouped, dataset, classes, spec.obs_shape,
                                         per_chunk)
        training = config.synthetic
        meta = {"method": "gradient matching",
                "labels": "learned" if config.gm.label_lr > 0 else "fixed (one-hot actions / recorded targets)"}
        return trainer, dataset, classes, config.gm, config.gm.epochs, meta, training
    bm_config = config.bm
    if bm_config.outer_loss in NEEDS_EXPERT and expert is None:
        raise ValueError(f"--bm.outer-loss {bm_config.outer_loss} needs the expert policy (--expert); use "
                         "--bm.outer-loss dbc without one")
    target = expert_targets(expert, x, spec.discrete) if expert is not None else None
    weight = value_weights(data.returns_to_go(bm_config.gamma)) if bm_config.outer_loss == "avpbc" else None
    real = real_source(x, actions, target, weight, spec.discrete)
    dataset, classes = initial_set(data, grouped, bm_config.k, seed, expert)
    trainer = make_behaviour_matching(bm_config, student_spec, dist, real, dataset, spec.obs_shape, per_chunk)
    meta = {"method": f"behaviour matching ({bm_config.outer_loss})",
            "labels": "learned" + (", started from the expert's" if expert is not None else "")
            if bm_config.label_lr > 0 else "fixed"}
    return trainer, dataset, classes, bm_config, bm_config.epochs, meta, bm_config.training()


def run_distill(run_dir: Path, data: OfflineData, student_spec, config: StudyConfig, seed: int, resume: bool,
                progress: bool = True, overwrite: bool = False, expert=None):
    """The distillation run (``config.method``) in ``run_dir/distill``; returns ``(dataset, result dict, initial
    dataset)``: the initial one is the set before distillation (real states balanced over the actions), the
    ablation that tells what the distillation itself adds. A stop signal ends it with
    :class:`~jaxdistill.core.errors.RunInterrupted` (checkpointed, never saved or evaluated half done)."""
    spec = data.spec
    trainer, dataset, classes, method_config, epochs, meta, training = distiller(
        data, student_spec, config, seed, config.eval_every, expert)
    out_dir = run_dir / "distill"
    # Flat and JSON-normalised, as a checkpoint stores it: only the epoch budget may change on --resume.
    cfg = json.loads(json.dumps({**config_to_dict(method_config), "method": config.method,
                                 "student": student_spec.to_dict(), "env_id": spec.env_id}))
    result = train_loop(trainer=trainer, evaluate_fn=None, total_iterations=epochs,
                        chunk=config.eval_every, env_steps_per_iteration=0, run_dir=out_dir, seed=seed, config=cfg,
                        may_change=("epochs",), resume=resume, progress=progress, overwrite=overwrite,
                        desc=f"{meta['method']}, {spec.env_id}", tensorboard=False, watch=lambda s: s.dataset)
    final = result.state.dataset
    save_dataset(out_dir / "dataset", final, env_spec=spec, learner_spec=student_spec, config=cfg,
                 inner_step=(f"{training.steps} {training.optimizer} steps (lr {training.lr:g}, batches of "
                             f"{training.batch_size}) of behavioural cloning on (x, y) from freshly initialised "
                             "params: cross-entropy against the rows of y for discrete actions, MSE for continuous"),
                 extra={**meta, "student_training": training.to_dict(), "classes": np.asarray(classes).tolist(),
                        "epochs": int(result.state.iteration), "seed": seed, "real_samples": data.num_transitions})
    curve = {key: [r.get(key) for r in result.rows] for key in ("matching_loss", "outer_loss", "agreement")
             if any(key in r for r in result.rows)}
    return final, {"method": meta["method"], "epochs": int(result.state.iteration), "wall_time_s": result.wall_time,
                   "seconds_per_epoch": result.wall_time / max(1, int(result.state.iteration)),
                   **curve}, dataset


def random_rows(splits: dict, students: int, episodes_per_student: int, seed: int,
                max_steps: int | None = None) -> list[dict]:
    """A uniformly random policy (discrete actions) on every split, as many episodes as a method's row."""
    from jaxdistill.eval.baselines import random_policy_returns

    rows = []
    for split, env in splits.items():
        returns = random_policy_returns(env, jax.random.fold_in(run_keys(seed)[2], 2000 + SPLITS.index(split)),
                                        students * episodes_per_student, max_steps)
        r = np.asarray(returns).reshape(students, episodes_per_student)
        rows.append({"method": "random", "split": split, **summary(r), "dataset_size": 0})
    return rows


def expert_rows(splits: dict, policy, students: int, episodes_per_student: int, seed: int, greedy: bool,
                max_steps: int | None = None) -> list[dict]:
    """The expert itself on every split (``students x episodes_per_student`` episodes)."""
    from jaxdistill.eval.episodes import play_episodes, staged

    total = students * episodes_per_student
    rows = []
    for split, env in splits.items():
        returns = staged(env, lambda k, p, env=env: play_episodes(env, k, policy.policy, p, total, policy.dist,
                                                                 greedy, None, max_steps))(
            jax.random.fold_in(run_keys(seed)[2], 3000 + SPLITS.index(split)), policy.params)
        r = np.asarray(returns).reshape(students, episodes_per_student)
        rows.append({"method": "expert", "split": split, **summary(r), "dataset_size": 0})
    return rows


def format_methods(rows: list[dict]) -> str:
    splits = sorted({r["split"] for r in rows}, key=SPLITS.index)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = "| method | samples | " + " | ".join(f"{s.upper()} mean ± std" for s in splits) + " | students |"
    lines = [head, "|---" * (len(splits) + 3) + "|"]
    for m in methods:
        cells = {r["split"]: r for r in rows if r["method"] == m}
        any_row = next(iter(cells.values()))
        lines.append(f"| {m} | {any_row['dataset_size'] or '-'} | "
                     + " | ".join(f"{cells[s]['mean']:.2f} ± {cells[s]['std']:.2f}" if s in cells else "-"
                                  for s in splits) + f" | {any_row['students']} |")
    return "\n".join(lines)


def plot_methods(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = sorted({r["split"] for r in rows}, key=SPLITS.index)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 2, 3.6))
    width = 0.8 / len(splits)
    for j, split in enumerate(splits):
        means = [next((r["mean"] for r in rows if r["method"] == m and r["split"] == split), np.nan) for m in methods]
        stds = [next((r["std"] for r in rows if r["method"] == m and r["split"] == split), np.nan) for m in methods]
        ax.bar(np.arange(len(methods)) + j * width, means, width, yerr=stds, capsize=3,
               label={"id": "in distribution", "ood": "unseen levels"}[split])
    ax.set_xticks(np.arange(len(methods)) + width * (len(splits) - 1) / 2, methods)
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
