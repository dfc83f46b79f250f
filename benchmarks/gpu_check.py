"""One short script for the day a GPU is lent: a few meta-epochs of every preset that needs one, cart-pole's k-shot
throughput and PPO against PPMO on Atari, with compile times, in one JSON record.

    python -m benchmarks.gpu_check                         # the gpu presets (one GPU, under 8 minutes)
    python -m benchmarks.gpu_check --preset cpu            # the same on the cpu presets (under 10 minutes here)
    python -m benchmarks.gpu_check --cases cartpole minatar --out /tmp/check.json

Each case builds its trainer from :mod:`jaxdistill.presets` (the sizes the command lines use) and calls it twice
with ``--iterations`` meta-epochs a call: the first call's time, less the second's, is the compile time; the
second's divided by ``--iterations`` is the steady time a meta-epoch. A case that fails is recorded with its
error and the others still run, so one broken route does not hide the rest; the command then exits 1 naming
them. CI runs it on the cpu presets after the test suite (``.ci/run``).
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from pathlib import Path
from typing import Callable, Literal

import jax
import tyro

from benchmarks.machine import describe_machine, write_record

CASES = ("atari", "minatar", "minatar_levers", "procgen", "mujoco", "brax", "cartpole")


@dataclasses.dataclass
class Args:
    preset: Literal["gpu", "cpu"] = "gpu"
    """Which presets' sizes (``jaxdistill.presets``): gpu on an accelerator, cpu to check the script on a CPU."""
    cases: tuple[str, ...] = CASES
    """atari (Centipede, PPMO l = 0 beside PPO), minatar (Breakout, l = 0), minatar_levers (issue 25's levers for
    l = 0), procgen (offline behaviour matching on
    bigfish-shaped frames), mujoco (Hopper-v4 through EnvPool), brax (hopper), cartpole (k-shot learners)."""
    iterations: int = 2
    """Meta-epochs (or outer steps) per timed call."""
    kshot_learners: int = 100_000
    """Fresh cart-pole learners trained on a 2-pair dataset and each run for one episode."""
    out: Path = Path("benchmarks/results/gpu_check.json")
    """Where the JSON record goes."""


def _timed(call: Callable) -> tuple[float, object]:
    """Seconds until ``call()``'s result is ready, and the result."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(call())
    return time.perf_counter() - t0, out


def time_calls(init: Callable, chunk: Callable, iterations: int) -> dict:
    """Compile time and steady seconds per iteration of a trainer-like pair (``chunk(state)`` runs
    ``iterations`` iterations)."""
    state = jax.block_until_ready(init(jax.random.PRNGKey(0)))
    first, _ = _timed(lambda: chunk(state)[0])
    second, _ = _timed(lambda: chunk(state)[0])
    return {"compile_s": max(0.0, first - second), "first_call_s": first,
            "seconds_per_iteration": second / iterations, "iterations_timed": iterations}


def _ppmo_case(env, config, iterations: int) -> dict:
    from jaxdistill.distill.ppmo import make_ppmo
    from jaxdistill.run.driver import make_trainer

    agent = make_ppmo(config, env.spec).agent
    trainer = make_trainer(env, agent, iterations)
    return {"env": env.spec.env_id, "env_steps_per_iteration": agent.env_steps_per_iteration,
            "k": config.k, **time_calls(trainer.init, trainer.chunk, iterations)}


def atari(args: Args) -> dict:
    from jaxdistill.distill.kmin import k_min
    from jaxdistill.envs import make
    from jaxdistill.presets import ATARI_PPMO, nature_cnn
    from jaxdistill.rl.ppo import PPOConfig, make_ppo
    from jaxdistill.run.driver import make_trainer

    env = make("Centipede-v5")
    sizes = ATARI_PPMO[args.preset]
    config = dataclasses.replace(sizes, k=k_min(env.spec.num_actions), learner=nature_cnn(0),
                                 critic=nature_cnn(0, 1.0))
    record = {"ppmo": _ppmo_case(env, config, args.iterations)}
    ppo = PPOConfig(num_envs=sizes.num_learners * sizes.num_envs, num_steps=sizes.num_steps,
                    num_minibatches=sizes.num_minibatches, clip_eps=0.1, actor=nature_cnn(0),
                    critic=nature_cnn(0, 1.0))
    trainer = make_trainer(env, make_ppo(ppo, env.spec), args.iterations)
    record["ppo"] = time_calls(trainer.init, trainer.chunk, args.iterations)
    record["ppmo_over_ppo"] = record["ppmo"]["seconds_per_iteration"] / record["ppo"]["seconds_per_iteration"]
    record["paper_a100"] = {"ppmo_s": 3.73, "ppo_s": 3.25, "ratio": 1.15}
    return record


def minatar(args: Args) -> dict:
    from jaxdistill.envs import make
    from jaxdistill.presets import MINATAR_PPMO, minatar_learner

    config = dataclasses.replace(MINATAR_PPMO[args.preset], k=16, learner=minatar_learner(0),
                                 critic=minatar_learner(0, 1.0))
    return {"encoder_layers": 0, **_ppmo_case(make("Breakout-MinAtar"), config, args.iterations)}


def _es_case(env, config, iterations: int) -> dict:
    from jaxdistill.distill.es import make_es

    es = make_es(config, env)

    def chunk(state):
        return jax.lax.scan(lambda s, _: es.generation(s), state, None, length=iterations)

    return {"env": env.spec.env_id, "population": config.population, "computed_env_steps_per_iteration":
            es.env_steps_per_generation, "k": config.k, **time_calls(jax.jit(es.init), jax.jit(chunk), iterations)}


def minatar_levers(args: Args) -> dict:
    """Issue 25's levers for full distillation on Breakout, each at the preset's sizes: (a) a rollback stage (l = 3
    from the committed l = 4 run), (b) 5 inner SGD steps with a learned rate each, PPMO on HaDES' MLP students
    with running statistics, and (d) HaDES' SNES search over MLP students trained by 32 Adam steps (population
    2048 on the gpu preset, 32 on the cpu one; episodes cut at 500 steps). (c), X from real states, computes
    what the l = 0 baseline (the ``minatar`` case) does."""
    from jaxdistill.distill.es import HADES_MINATAR, ESConfig
    from jaxdistill.envs import make
    from jaxdistill.learn.inner import InnerTraining
    from jaxdistill.presets import MINATAR_PPMO, minatar_learner, minatar_mlp

    env = make("Breakout-MinAtar")
    obs = env.spec.obs_shape
    base = dataclasses.replace(MINATAR_PPMO[args.preset], k=16, learner=minatar_learner(0),
                               critic=minatar_learner(0, 1.0))
    l4 = Path(__file__).resolve().parents[1] / "experiments/results/minatar_breakout_k16_l4_ppmo_s0/dataset"
    ppmo = {
        "a_rollback_l3": dataclasses.replace(base, learner=minatar_learner(3), init_from=str(l4)),
        "b_sgd5_per_step_lr": dataclasses.replace(base, inner=InnerTraining(steps=5, per_step_lr=True)),
        "ppmo_mlp": dataclasses.replace(base, learner=minatar_mlp(obs), critic=minatar_mlp(obs, output_gain=1.0),
                                        normalize_obs=True),
    }
    record = {name: _ppmo_case(env, config, args.iterations) for name, config in ppmo.items()}
    es = ESConfig(k=16, population=2048 if args.preset == "gpu" else 32, max_steps=500, learner=minatar_mlp(obs),
                  inner=InnerTraining(kind="bc", steps=32, labels="hard"), **HADES_MINATAR)
    record["d_es_snes_mlp"] = _es_case(env, es, args.iterations)
    return record


def mujoco(args: Args) -> dict:
    from jaxdistill.envs import make
    from jaxdistill.presets import MUJOCO_PPMO

    env = make("Hopper-v4")
    return _ppmo_case(env, MUJOCO_PPMO[("envpool", args.preset)].for_spec(env.spec), args.iterations)


def brax(args: Args) -> dict:
    from jaxdistill.envs import make
    from jaxdistill.presets import MUJOCO_PPMO

    env = make("hopper")
    return _ppmo_case(env, MUJOCO_PPMO[("brax", args.preset)].for_spec(env.spec), args.iterations)


def procgen(args: Args) -> dict:
    """Behaviour matching on bigfish-shaped frames (3x64x64 uint8, 15 actions; random data of the recorded
    kind, so no game is needed): the gpu preset's students (8 an epoch, 1024 real frames each, T = 100); on the
    cpu preset T = 10 (a T = 100 epoch takes minutes on a CPU)."""
    import numpy as np

    from jaxdistill.distill import behaviour_matching as bm
    from jaxdistill.distill.gradient_matching import group_by_class, init_synthetic
    from jaxdistill.policy.distributions import Categorical
    from jaxdistill.presets import offline_networks

    obs_shape, actions_n = (3, 64, 64), 15
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2048, *obs_shape), dtype=np.uint8)
    actions = rng.integers(0, actions_n, len(x))
    student, _, _ = offline_networks(obs_shape, True)
    real = group_by_class(x, actions, actions_n)
    dataset, _ = init_synthetic(jax.random.PRNGKey(0), real, 150, actions_n)
    config = (bm.BMConfig(students_per_epoch=8, real_batch=1024) if args.preset == "gpu"
              else bm.BMConfig(inner_steps=10))
    config = dataclasses.replace(config, outer_loss="dbc")
    trainer = bm.make_behaviour_matching(config, student, Categorical(actions_n),
                                         bm.real_source(x, actions, None, None, True), dataset, obs_shape,
                                         args.iterations)
    return {"k": config.k, "inner_steps": config.inner_steps, "students_per_epoch": config.students_per_epoch,
            "real_batch": config.real_batch, **time_calls(trainer.init, lambda s: (trainer.chunk(s)[0].dataset.x,),
                                                           args.iterations)}


def cartpole(args: Args) -> dict:
    """``kshot_learners`` fresh Λ learners trained one step on the committed 1-D cart-pole dataset, each run for a
    full episode: learners an hour."""
    from jaxdistill.envs import make
    from jaxdistill.eval.kshot import fresh_learners, make_kshot_evaluate
    from jaxdistill.learn.dataset import load_dataset, load_encoder, load_obs_norm
    from jaxdistill.nets.networks import LearnerSpec

    env = make("CartPole1D-v1")
    path = Path(__file__).resolve().parents[1] / "experiments/results/cartpole1d_k2_ppmo_s0/dataset"
    dataset, metadata = load_dataset(path, expect_obs_shape=env.spec.obs_shape)
    encoder, obs_norm = load_encoder(path), load_obs_norm(path)
    learners = fresh_learners(env, LearnerSpec.from_dict(metadata["learner_spec"]))
    evaluate = make_kshot_evaluate(env, learners, args.kshot_learners, greedy=True)
    first, _ = _timed(lambda: evaluate(jax.random.PRNGKey(0), dataset, encoder, obs_norm))
    second, returns = _timed(lambda: evaluate(jax.random.PRNGKey(1), dataset, encoder, obs_norm))
    return {"learners": args.kshot_learners, "compile_s": max(0.0, first - second),
            "seconds_for_all_learners": second, "learners_per_hour": args.kshot_learners * 3600.0 / second,
            "mean_return": float(jax.numpy.mean(returns))}


RUNNERS = {"atari": atari, "minatar": minatar, "minatar_levers": minatar_levers, "procgen": procgen, "mujoco": mujoco,
           "brax": brax, "cartpole": cartpole}


def main(args: Args) -> dict:
    unknown = [c for c in args.cases if c not in RUNNERS]
    if unknown or args.iterations < 1 or args.kshot_learners < 1:
        raise SystemExit(f"benchmarks.gpu_check: error: unknown cases {unknown} (known: {', '.join(CASES)})"
                         if unknown else "benchmarks.gpu_check: error: --iterations and --kshot-learners must be >= 1")
    machine = describe_machine()
    record: dict = {"machine": machine, "device": str(jax.devices()[0].device_kind), "preset": args.preset,
                    "cases": {}}
    start = time.perf_counter()
    for case in args.cases:
        t0 = time.perf_counter()
        try:
            result = RUNNERS[case](args)
        except Exception as e:  # noqa: BLE001 - recorded, and the other cases still run
            result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=3)}
        result["case_wall_s"] = time.perf_counter() - t0
        record["cases"][case] = result
        record["total_wall_s"] = time.perf_counter() - start
        print(f"[gpu_check] {case}: {json.dumps(result)[:400]}", flush=True)
        write_record(args.out, record)  # after every case, so a run cut short keeps what it measured
    failed = [case for case, result in record["cases"].items() if "error" in result]
    if failed:
        raise SystemExit(f"benchmarks.gpu_check: failed cases: {', '.join(failed)} (errors in {args.out})")
    return record


if __name__ == "__main__":
    main(tyro.cli(Args))
