"""`motion-r1`: the command line of the pipeline.

motion-r1 stage raw_motions --dataset procedural --profile smoke --set data.procedural.seed=3
motion-r1 data synth --out /tmp/p --motions 300 --seed 1
motion-r1 data check /tmp/p
motion-r1 data import mocap/ --captions mocap/captions.csv --out data/my_mocap
motion-r1 render /tmp/p/new_joint_vecs/000000.npy --out walk.gif
motion-r1 export /tmp/p/new_joint_vecs/000000.npy --bvh walk.bvh
motion-r1 generate "a person jumps twice" --policy artifacts/procedural/sft/cot/model --seconds 3 --out jump.gif
motion-r1 generate "a person jumps twice" --model models:/motion-r1@champion --out jump.gif
motion-r1 config --profile smoke
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

app = typer.Typer(help="Motion-R1: text-to-motion with a reasoning LLM.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets in the HumanML3D layout.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True)

if TYPE_CHECKING:
    import numpy as np

_PROFILE = typer.Option(None, "--profile", "-p", help="configs/<profile>.yaml (smoke, cpu, paper).")
_SET = typer.Option(
    None, "--set", "-s", help="Override a parameter: section.key=value (repeatable)."
)


@app.command()
def stage(
    name: str = typer.Argument(..., help="Stage name, e.g. raw_motions."),
    dataset: str = typer.Option(None, "--dataset", "-d", help="procedural, humanml3d or kit."),
    profile: str = _PROFILE,
    set_: list[str] = _SET,
) -> None:
    """Run one pipeline stage, tracked as an MLflow run (the command DVC stages call)."""
    from motion_r1_core.config import load_config
    from motion_r1_core.stages import get_stage
    from motion_r1_core.tracking import stage_run

    cfg = load_config(profile=profile, overrides=set_ or [])
    dataset = dataset or cfg.dataset
    fn = get_stage(name)
    with stage_run(cfg, name, dataset) as tracker:
        result = fn(cfg, dataset, tracker)
    console.print(
        f"[green]{name}[/green] ({dataset}, profile {cfg.profile}) done; "
        f"MLflow run {tracker.run_id}"
    )
    typer.echo(json.dumps(result.as_metadata(), indent=2, default=str))


@app.command("evaluate-real")
def evaluate_real(
    dataset: str = typer.Option(None, "--dataset", "-d", help="procedural, humanml3d or kit."),
    evaluator: str = typer.Option(
        None, "--evaluator", "-e", help="trained or published; default: evaluation.evaluator."
    ),
    profile: str = _PROFILE,
    set_: list[str] = _SET,
) -> None:
    """The "Real" row: real test motions against themselves under the metric protocol."""
    from motion_r1_core.config import load_config
    from motion_r1_core.data.humanml3d import load_split
    from motion_r1_core.evaluation.protocol import TABLE_HEADER, evaluate, load_evaluator

    cfg = load_config(profile=profile, overrides=set_ or [])
    dataset = dataset or cfg.dataset
    kind = evaluator or cfg.evaluation.evaluator
    ev = load_evaluator(cfg, dataset, kind)
    records = load_split(cfg.raw_dir(dataset), "test", cfg.data.min_frames)
    report = evaluate(ev, records, cfg.evaluation, progress=True)
    path = report.write(cfg.artifacts_dir(dataset, "evaluation") / f"real_{kind}.json")
    typer.echo(TABLE_HEADER)
    typer.echo(report.table_row(f"Real ({dataset}, {kind} evaluator)"))
    console.print(f"wrote {path} ({report.settings['replications']} replications)")


@app.command("config")
def show_config(profile: str = _PROFILE, set_: list[str] = _SET) -> None:
    """Print the resolved configuration (params.yaml + profile + overrides) as YAML."""
    import yaml

    from motion_r1_core.config import load_config

    cfg = load_config(profile=profile, overrides=set_ or [])
    typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


@data_app.command("synth")
def data_synth(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write (HumanML3D layout)."),
    motions: int = typer.Option(
        None, "--motions", "-n", help="Number of motions; default: data.procedural.motions."
    ),
    seed: int = typer.Option(
        None,
        "--seed",
        help="Random seed (the corpus is deterministic by seed); default: data.procedural.seed.",
    ),
    max_primitives: int = typer.Option(
        None,
        "--max-primitives",
        help="Steps per motion, 1..4; default: data.procedural.max_primitives.",
    ),
    profile: str = _PROFILE,
    set_: list[str] = _SET,
) -> None:
    """Write the procedural corpus: joints, features, captions, splits, Mean/Std, decompositions.

    Options not given come from the configuration (`data.procedural`, split shares included).
    """
    from motion_r1_core.config import load_config
    from motion_r1_core.data.procedural import synthesize_corpus

    p = load_config(profile=profile, overrides=set_ or []).data.procedural
    summary = synthesize_corpus(
        out,
        motions=p.motions if motions is None else motions,
        seed=p.seed if seed is None else seed,
        max_primitives=p.max_primitives if max_primitives is None else max_primitives,
        split=tuple(p.split),
    )
    console.print(
        f"wrote {summary.n_motions} motions, {summary.n_captions} captions to {out} "
        f"in {summary.seconds:.1f} s"
    )


@data_app.command("import")
def data_import(
    src: Path = typer.Argument(..., help="A folder of .bvh files or (T, 22, 3) .npy joints."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write (HumanML3D layout)."),
    captions: Path = typer.Option(
        None, "--captions", help="CSV with columns file,caption; default SRC/captions.csv."
    ),
    rig: str = typer.Option(
        None, "--rig", help="Rig of the BVH files (cmu, mixamo, smpl, humanml3d); default: detect."
    ),
    rigs: Path = typer.Option(None, "--rigs", help="A folder of extra rig mappings (YAML)."),
    fps: float = typer.Option(20.0, "--fps", help="Frame rate of .npy inputs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/val/test split."),
    profile: str = _PROFILE,
    set_: list[str] = _SET,
) -> None:
    """Import your own motion capture: retargeted, 20 fps, features, splits, Mean/Std.

    Use the result as a dataset: `motion-r1 stage raw_motions --dataset humanml3d --set
    data.humanml3d.source=OUT`. A file that fails is named with its reason and skipped.
    """
    from motion_r1_core.config import load_config
    from motion_r1_core.data.importer import import_folder

    try:
        cfg = load_config(profile=profile, overrides=set_ or [])
        min_frames, split = cfg.data.min_frames, tuple(cfg.data.procedural.split)
    except FileNotFoundError:  # outside a project: HumanML3D's defaults
        min_frames, split = 40, (0.8, 0.05, 0.15)
    summary = import_folder(
        src, out, captions, rig, fps, min_frames=min_frames, seed=seed, split=split, rigs_dir=rigs
    )
    for name, reason in summary.skipped.items():
        console.print(f"[yellow]skipped {name}:[/yellow] {reason}")
    console.print(
        f"imported {len(summary.imported)} motions to {out} ({len(summary.skipped)} skipped; "
        f"{out / 'import_report.json'})"
    )


@data_app.command("check")
def data_check(
    folder: Path = typer.Argument(..., help="A folder in the HumanML3D layout."),
    min_frames: int = typer.Option(
        None, help="Shortest motion kept by the readers (KIT: 24); default: data.min_frames."
    ),
    length_mostly: float = typer.Option(1.0, help="Share of motions that must be in range."),
    profile: str = _PROFILE,
    set_: list[str] = _SET,
) -> None:
    """Validate a motion folder; exit 1 with a readable list of failures.

    Frame counts must lie in min_frames..199: the readers keep T < 200 (and crop to
    `data.max_frames` later, which does not make a longer motion invalid).
    """
    from motion_r1_core.config import load_config
    from motion_r1_core.data.validation import MAX_FRAMES, validate_motion_folder

    if min_frames is None:
        min_frames = load_config(profile=profile, overrides=set_ or []).data.min_frames
    report = validate_motion_folder(
        folder, min_frames=min_frames, max_frames=MAX_FRAMES, length_mostly=length_mostly
    )
    typer.echo(report.format())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def render(
    file: Path = typer.Argument(..., help="A .npy of features (T, 263|251) or joints (T, J, 3)."),
    out: Path = typer.Option(..., "--out", "-o", help="GIF to write."),
    caption: str = typer.Option(
        None, "--caption", help="Title; default: the file's first caption."
    ),
) -> None:
    """Render a motion as a stick-figure GIF."""
    from motion_r1_core.render import render_file

    path = render_file(file, out, caption=caption)
    console.print(f"wrote {path}")


@app.command()
def export(
    file: Path = typer.Argument(..., help="A .npy of features (T, 263|251) or joints (T, J, 3)."),
    bvh: Path = typer.Option(..., "--bvh", help="BVH file to write (Blender, game engines)."),
    unit: str = typer.Option("cm", "--unit", help="Offsets and root translation in cm or m."),
    fps: float = typer.Option(None, "--fps", help="Frame rate; default the skeleton's (20)."),
) -> None:
    """Export a motion as BVH: the skeleton's hierarchy, rotations by inverse kinematics."""
    from motion_r1_core.bvh import write_bvh
    from motion_r1_core.render import load_joints

    joints, skeleton = load_joints(file)
    path = write_bvh(bvh, joints, skeleton, fps=fps, unit=unit)
    console.print(f"wrote {path} ({len(joints)} frames, {skeleton.n_joints} joints, {unit})")


@app.command()
def generate(
    caption: str = typer.Argument(..., help="What the person should do."),
    policy: Path = typer.Option(
        None, "--policy", help="A policy folder (stage sft_policy); or give --model."
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="A registered model instead of --policy, e.g. models:/motion-r1@champion (stage "
        "registered_model); its own generation settings apply.",
    ),
    out: Path = typer.Option(Path("motion.gif"), "--out", "-o", help="GIF to write."),
    bvh: Path = typer.Option(None, "--bvh", help="Also write the motion as BVH (centimetres)."),
    seconds: float = typer.Option(
        None, "--seconds", help="Duration, exact when given (with --long: of each step)."
    ),
    long_: bool = typer.Option(
        False, "--long", help="One span per step of the chain, joined: past the 196-frame limit."
    ),
    steps: str = typer.Option(
        None, "--steps", help="With --long: the steps, separated by ';' (default: the chain)."
    ),
    tokenizer: Path = typer.Option(
        None, "--tokenizer", help="Motion tokenizer checkpoint; default: the policy's own."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    constrained: bool = typer.Option(True, help="Enforce the output grammar."),
    profile: str = _PROFILE,
    set_: list[str] = _SET,
) -> None:
    """Turn a sentence into a motion: print the chain and plan, write the GIF and joints (.npy)."""
    from motion_r1_core.config import load_config
    from motion_r1_core.policy.generate import sample
    from motion_r1_core.policy.policy import Policy
    from motion_r1_core.vqvae.tokenizer import MotionTokenizer

    if (policy is None) == (model is None):
        raise ValueError("give exactly one of --policy and --model")
    if steps is not None and not long_:
        raise ValueError("--steps goes with --long")
    step_list = [s.strip() for s in steps.split(";") if s.strip()] if steps else None
    if model is not None:
        if tokenizer is not None or not constrained:
            raise ValueError("--tokenizer and --no-constrained go with --policy only")
        if step_list:
            raise ValueError("--steps goes with --policy (a registered model uses its chain)")
        _generate_registered(caption, model, out, seconds, seed, profile, set_, bvh, long_)
        return
    try:
        gen = load_config(profile=profile, overrides=set_ or []).policy.generation
    except FileNotFoundError:  # outside a project: the default sampling settings
        if profile or set_:
            raise
        from motion_r1_core.config import GenerationSection

        gen = GenerationSection()
    pol = Policy.load(policy)
    vq = MotionTokenizer.load(tokenizer or Path(pol.meta["motion_tokenizer"]["path"]))
    pol.check_tokenizer(vq.codebook_size, vq.frames_per_token)
    if long_:
        from motion_r1_core.policy.long import generate_long

        if not constrained:
            raise ValueError("--long samples with the grammar; drop --no-constrained")
        motion = generate_long(pol, vq, caption, gen, step_list, seconds, seed)
        n_tokens = sum(len(c) for c in motion.codes)
        _write_motion(caption, motion.steps, motion.plan, n_tokens, motion.joints, out, bvh=bvh)
        return
    (answer,), _ = sample(
        pol, [caption], gen, seconds=[seconds], constrained=constrained, seed=seed
    )
    if not answer.parsed.ok:
        console.print(f"[red]the answer does not parse:[/red] {answer.parsed.error}")
        typer.echo(answer.text)
        raise typer.Exit(1)
    joints = vq.decode_joints(answer.parsed.codes).numpy()
    _write_motion(
        caption,
        answer.parsed.steps,
        answer.parsed.plan,
        len(answer.parsed.codes),
        joints,
        out,
        bvh=bvh,
    )


def _generate_registered(
    caption: str,
    model: str,
    out: Path,
    seconds: float | None,
    seed: int,
    profile: str | None,
    set_: list[str] | None,
    bvh: Path | None = None,
    long_: bool = False,
) -> None:
    """`generate` through a registered pyfunc (`--model`), from the project's MLflow store
    (MLFLOW_TRACKING_URI, else tracking.default_uri; outside a project MLflow's own)."""
    import numpy as np
    import pandas as pd

    from motion_r1_core.config import load_config
    from motion_r1_core.registry import load_champion

    try:
        uri = load_config(profile=profile, overrides=set_ or []).tracking_uri()
    except FileNotFoundError:
        if profile or set_:
            raise
        uri = None
    request = pd.DataFrame(
        {
            "caption": [caption],
            "seconds": [np.nan if seconds is None else seconds],
            "seed": [seed],
            "long": [long_],
        }
    )
    row = load_champion(model, uri).predict(request).iloc[0]
    steps = [s for s in row["chain"].split("\n") if s]
    joints = np.asarray(row["joints"], dtype=np.float32)
    _write_motion(caption, steps, row["plan"], len(row["token_ids"]), joints, out, row["fps"], bvh)


def _write_motion(
    caption: str,
    steps: list[str],
    plan: str | None,
    n_tokens: int,
    joints: np.ndarray,
    out: Path,
    fps: float | None = None,
    bvh: Path | None = None,
) -> None:
    """Print the chain and plan, save joints (T, J, 3) in metres as .npy beside the GIF `out`,
    render the GIF at `fps` (None: the skeleton's), and write a BVH at `bvh` if given."""
    import numpy as np

    from motion_r1_core.render import render_motion
    from motion_r1_core.skeleton import skeleton_for_joints

    for i, step in enumerate(steps, 1):
        typer.echo(f"{i}. {step}")
    if plan:
        typer.echo(f"Plan: {plan}")
    skeleton = skeleton_for_joints(joints.shape[1])
    fps = float(fps or skeleton.fps)
    npy = out.with_suffix(".npy")
    np.save(npy, joints)
    title = caption + ("\n" + "; ".join(steps) if steps else "")
    render_motion(joints, out, title, fps, skeleton)
    if bvh is not None:
        from motion_r1_core.bvh import write_bvh

        typer.echo(f"wrote {write_bvh(bvh, joints, skeleton, fps=fps)}")
    typer.echo(
        f"{n_tokens} motion tokens = {len(joints)} frames ({len(joints) / fps:.2f} s); "
        f"wrote {out} and {npy}"
    )


def main() -> None:
    """Entry point: known errors become one readable message and a non-zero exit code."""
    import click

    from motion_r1_core.stages.raw_motions import ValidationFailed

    try:
        rc = app(standalone_mode=False)
    except click.exceptions.ClickException as e:
        e.show()
        raise SystemExit(e.exit_code) from None
    except click.exceptions.Abort:
        raise SystemExit(1) from None
    except ValidationFailed as e:
        console.print(f"[red]validation failed:[/red]\n{e}")
        raise SystemExit(1) from None
    except (ValueError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise SystemExit(2) from None
    raise SystemExit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
