"""How students play: every student (or ensemble of students) of :mod:`jaxdistill.learn.students` runs its own
episodes of an environment, all side by side, and a row's summary of their returns."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdistill.eval.episodes import play_episodes, staged
from jaxdistill.learn.students import ensemble_outputs


@functools.lru_cache(maxsize=32)
def _student_policy(spec, dist, ensemble: int = 1):
    """Each student (or ensemble of ``ensemble`` students) acts on its own observation (one function per spec:
    host runners cache its compilation). Discrete students give logits. A continuous student learns only means
    (the BC loss is their squared error), so it acts by its mean, sampled and greedy alike: its distribution
    parameters are the means with a zero standard deviation."""
    if ensemble == 1:
        outputs = lambda params, obs: jax.vmap(spec.apply)(params, obs)  # noqa: E731
    else:
        outputs = lambda params, obs: jax.vmap(lambda p, o: ensemble_outputs(spec, dist, p, o[None])[0])(  # noqa: E731
            params, obs)
    if dist.discrete:
        return outputs
    no_std = jnp.full((dist.num_outputs,), -jnp.inf)
    return lambda params, obs: dist.params(outputs(params, obs), no_std)


def make_student_evaluate(env, spec, dist, num_students: int, episodes_per_student: int, greedy: bool = False,
                          max_steps: int | None = None, ensemble: int = 1):
    """``evaluate(key, students) -> returns (num_students, episodes_per_student)``: every student plays
    ``episodes_per_student`` episodes of ``env`` (all students' episodes side by side). With ``ensemble`` > 1
    each "student" is an ensemble: ``students`` are stacked ``(num_students, ensemble, ...)`` and act by
    :func:`ensemble_outputs`."""
    total = num_students * episodes_per_student
    policy = _student_policy(spec, dist, ensemble)

    def evaluate(key, students):
        repeated = jax.tree_util.tree_map(lambda p: jnp.repeat(p, episodes_per_student, axis=0), students)
        returns = play_episodes(env, key, policy, repeated, total, dist, greedy, None, max_steps)
        return jnp.reshape(jnp.asarray(returns), (num_students, episodes_per_student))

    return staged(env, evaluate)


def summary(returns) -> dict:
    """Mean ± std over every student's every episode, and the spread of the students' own means."""
    r = np.asarray(returns, np.float64)
    per_student = r.mean(axis=1)
    return {"mean": float(r.mean()), "std": float(r.std()), "students": int(r.shape[0]), "episodes": int(r.size),
            "student_mean_std": float(per_student.std())}
