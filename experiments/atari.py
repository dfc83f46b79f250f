"""Distil an Atari game (EnvPool, stepped on the host) into k synthetic frames with PPMO, or train PPO.

    python -m experiments.atari --env Centipede                        # GPU-sized defaults, k = k_min = 10
    python -m experiments.atari --env Pong --preset cpu                # the small preset: minutes on a CPU
    python -m experiments.atari --env Centipede --encoder-layers 4     # encoder rollback (Algorithm 2), l = 4
    python -m experiments.atari --env Pong --method ppo                # CleanRL-style PPO, the baseline
    python -m experiments.atari --env Pong --preset cpu --resume       # continue from the last checkpoint

The learner is the PPO Nature CNN (the paper's α_a: conv 32 8x8/4, conv 64 4x4/2, conv 64 3x3/1,
dense 512, output) split at ``--encoder-layers l``. Environments are EnvPool ``<Game>-v5`` with
CleanRL's preprocessing (84x84 grey, 4-frame stack, no-op starts, episodic life and clipped
rewards for training); scores are reported unclipped and per full game. The training environments
step on the host while policies and updates are jitted (see ``jaxdistill.host_loop``). Writes into
``--run-dir`` (default ``runs/atari_<game>_k<K>_l<l>_<method>_s<seed>``) the dataset (+ encoder),
metrics, checkpoints, ``learning_curve.png``, ``dataset.png`` and ``results.{json,md}``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import tyro

from experiments.common import (
    ImageRunArgs,
    check_positive,
    format_table,
    summarize,
    validate_image_args,
    write_and_print_results,
)

PRESETS = {
    # GPU-sized: 8 learners x 8 games x 128 steps = 8192 env steps per meta-epoch (CleanRL's PPO
    # collects 8 x 128 per update); 1250 meta-epochs = 10 M env steps.
    "gpu": {"meta_epochs": 1250, "num_learners": 8, "num_envs": 8, "num_steps": 128, "num_minibatches": 4,
            "eval_every": 25, "eval_learners": 8, "final_eval_learners": 32, "eval_max_steps": 27000},
    # CPU-sized: 2 learners x 2 games x 32 steps per meta-epoch; short evaluation games.
    "cpu": {"meta_epochs": 20, "num_learners": 2, "num_envs": 2, "num_steps": 32, "num_minibatches": 2,
            "eval_every": 10, "eval_learners": 2, "final_eval_learners": 4, "eval_max_steps": 2000},
}


@dataclasses.dataclass
class Args(ImageRunArgs):
    env: str = "Centipede"
    """ALE game as EnvPool names it (Pong, Centipede, MsPacman, SpaceInvaders, Breakout, ...)."""
    distiller_lr: float = 2.5e-4
    """Adam learning rate of the synthetic frames and labels (the paper: 2.5e-4)."""
    clip_eps: float = 0.1
    """PPO clip range (CleanRL's Atari setting)."""
    final_eval_learners: int | None = None
    """Fresh learners in the final k-shot table (one full game each)."""
    eval_max_steps: int | None = None
    """Agent steps after which an evaluation game counts with its score so far."""
    checkpoint_interval_s: float = 300.0
    """Seconds between checkpoints (one is always written at exit)."""


def validate(args: Args) -> tuple[Args, object]:
    """Fill preset values and k_min; reject bad arguments (and unknown games) before compiling."""
    from jaxdistill.envs.atari import atari_spec
    from jaxdistill.kmin import k_min

    args, errors = validate_image_args(args, PRESETS, ("distiller_lr", "clip_eps"))
    check_positive(args, ("eval_max_steps",), errors)
    try:
        spec = atari_spec(args.env)
    except ValueError as e:
        errors.append(str(e))
    if errors:
        raise SystemExit("experiments.atari: error: " + "; ".join(errors))
    args = dataclasses.replace(args, env=spec.game, k=args.k or k_min(spec.num_actions))
    if args.run_dir is None:
        what = f"k{args.k}_l{args.encoder_layers}_ppmo" if args.method == "ppmo" else "ppo"
        args = dataclasses.replace(args, run_dir=Path("runs") / f"atari_{spec.game.lower()}_{what}_s{args.seed}")
    return args, spec


def nature_cnn(encoder_layers: int = 0, output_gain: float = 0.01):
    from jaxdistill.networks import ConvSpec

    return ConvSpec(encoder_layers=encoder_layers, channels_first=True, output_gain=output_gain)


def run_ppmo(args: Args, spec) -> dict:
    from jaxdistill.dataset import save_dataset
    from jaxdistill.envs.atari import AtariVecEnv
    from jaxdistill.host_loop import HostPPMOChunk, make_atari_kshot_evaluate
    from jaxdistill.plotting import plot_image_dataset
    from jaxdistill.ppmo import PPMOConfig, make_ppmo
    from jaxdistill.train import config_to_dict, run_keys, train_loop

    learner = nature_cnn(args.encoder_layers)
    config = PPMOConfig(
        env_id=spec.env_id, k=args.k, num_meta_epochs=args.meta_epochs, learner=learner,
        critic=nature_cnn(0, output_gain=1.0), num_learners=args.num_learners, num_envs=args.num_envs,
        num_steps=args.num_steps, num_minibatches=args.num_minibatches, update_epochs=args.update_epochs,
        distiller_lr=args.distiller_lr, critic_lr=args.critic_lr, encoder_lr=args.encoder_lr,
        inner_lr_init=args.inner_lr_init, clip_eps=args.clip_eps, ent_coef=args.ent_coef,
    )
    vec_env = AtariVecEnv(spec.game, args.num_learners * args.num_envs, seed=args.seed)
    evaluate = make_atari_kshot_evaluate(spec.game, learner, args.eval_learners, seed=args.seed + 10_000,
                                         max_steps=args.eval_max_steps)
    print(f"[jaxdistill] PPMO on {spec.env_id} (EnvPool, host-stepped): k={args.k}, encoder layers "
          f"{args.encoder_layers}, {config.env_steps_per_meta_epoch} env steps per meta-epoch -> {args.run_dir}",
          file=sys.stderr)
    result = train_loop(
        init_fn=make_ppmo(config).init, chunk_fn=HostPPMOChunk(config, vec_env, args.eval_every),
        evaluate_fn=lambda key, state: evaluate(key, state.dataset, state.encoder_params),
        iteration_of=lambda s: int(s.meta_epoch), total_iterations=args.meta_epochs, chunk=args.eval_every,
        env_steps_per_iteration=config.env_steps_per_meta_epoch, run_dir=args.run_dir, seed=args.seed,
        config=config_to_dict(args), checkpoint_interval_s=args.checkpoint_interval_s, resume=args.resume,
        tensorboard=args.tensorboard, progress=args.progress, jit_chunk=False,
        desc=f"PPMO {spec.game} k={args.k} l={args.encoder_layers}",
    )
    state = result.state
    dataset_dir = save_dataset(
        args.run_dir / "dataset", state.dataset, env_id=spec.env_id, learner_spec=learner.to_dict(),
        config=config_to_dict(config), encoder_params=state.encoder_params,
        extra={"meta_epochs": int(state.meta_epoch), "seed": args.seed},
    )
    final = make_atari_kshot_evaluate(spec.game, learner, args.final_eval_learners, seed=args.seed + 20_000,
                                      max_steps=args.eval_max_steps)
    scores = final(run_keys(args.seed)[2], state.dataset, state.encoder_params)
    plot_image_dataset(state.dataset.x, state.dataset.y, args.run_dir / "dataset.png", channels_first=True,
                       title=f"{spec.game} distilled to k={args.k} (inner lr {float(state.dataset.inner_lr):.3f})")
    return {"method": "ppmo", "env_id": spec.env_id, "k": args.k, "encoder_layers": args.encoder_layers,
            "meta_epochs": int(state.meta_epoch), "env_steps": int(state.meta_epoch) * config.env_steps_per_meta_epoch,
            "wall_time_s": result.wall_time, "finished": result.finished, "inner_lr": float(state.dataset.inner_lr),
            "kshot": [summarize(scores, f"fresh Nature-CNN learners (l={args.encoder_layers})", "sampled")],
            "dataset_dir": str(dataset_dir), "rows": result.rows}


def run_ppo(args: Args, spec) -> dict:
    import jax

    from jaxdistill.envs.atari import AtariVecEnv
    from jaxdistill.host_loop import HostPPOChunk, play_games
    from jaxdistill.ppo import PPOConfig, make_ppo
    from jaxdistill.train import config_to_dict, run_keys, train_loop

    num_games = args.num_learners * args.num_envs
    config = PPOConfig(
        env_id=spec.env_id, num_envs=num_games, num_steps=args.num_steps,
        total_timesteps=args.meta_epochs * num_games * args.num_steps, num_minibatches=args.num_minibatches,
        update_epochs=args.update_epochs, lr=args.critic_lr, clip_eps=args.clip_eps, ent_coef=args.ent_coef,
        actor=nature_cnn(0), critic=nature_cnn(0, output_gain=1.0),
    )
    vec_env = AtariVecEnv(spec.game, num_games, seed=args.seed)
    logits = jax.jit(config.actor.apply)

    def evaluate(key, state, n, seed):
        games = AtariVecEnv(spec.game, n, seed=seed, training=False)
        return play_games(games, lambda obs: logits(state.actor_params, obs), key, False, args.eval_max_steps)

    result = train_loop(
        init_fn=jax.jit(make_ppo(config).init), chunk_fn=HostPPOChunk(config, vec_env, args.eval_every),
        evaluate_fn=lambda k, s: evaluate(k, s, args.eval_learners, args.seed + 10_000),
        iteration_of=lambda s: int(s.update_step), total_iterations=config.num_updates, chunk=args.eval_every,
        env_steps_per_iteration=num_games * args.num_steps, run_dir=args.run_dir, seed=args.seed,
        config=config_to_dict(args), checkpoint_interval_s=args.checkpoint_interval_s, resume=args.resume,
        tensorboard=args.tensorboard, progress=args.progress, jit_chunk=False, desc=f"PPO {spec.game}",
    )
    scores = evaluate(run_keys(args.seed)[2], result.state, args.final_eval_learners, args.seed + 20_000)
    return {"method": "ppo", "env_id": spec.env_id, "updates": int(result.state.update_step),
            "env_steps": int(result.state.update_step) * num_games * args.num_steps, "wall_time_s": result.wall_time,
            "finished": result.finished, "kshot": [summarize(scores, "the trained PPO actor", "sampled")],
            "rows": result.rows}


def main(args: Args) -> dict:
    args, spec = validate(args)
    from jaxdistill.plotting import plot_learning_curve

    result = run_ppmo(args, spec) if args.method == "ppmo" else run_ppo(args, spec)
    rows = result.pop("rows")
    title = f"{'PPMO' if args.method == 'ppmo' else 'PPO'}, {spec.game} (EnvPool)"
    plot_learning_curve(rows, args.run_dir / "learning_curve.png", title=title,
                        kshot_label="k-shot score (sampled)" if args.method == "ppmo" else "PPO actor score (sampled)")
    write_and_print_results(args.run_dir, title, result, format_table(result["kshot"]),
                            intro="Unclipped full-game scores.\n\n")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
