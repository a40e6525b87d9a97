"""DVC in a committed copy of the project: `dvc repro` runs, skips and reruns exactly what a param
change reaches; push/pull through the default remote; `dvc exp run -S` and Dagster's
`asset materialize --select` in the same environment; the runs' provenance matches dvc.lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import GIT_IDENTITY, git_commit

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment's bin: dvc and the motion-r1 console script
MOTIONS = 60
PROJECT_FILES = (
    "params.yaml",
    "configs",
    "dvc.yaml",
    ".dvcignore",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "motion_r1_core",
    "pipelines",
    "pyproject.toml",
)
TINY_VQVAE = {  # seconds of training: the code path, not a tokenizer
    "vqvae.model.codebook_size": 16,
    "vqvae.model.code_dim": 8,
    "vqvae.model.width": 16,
    "vqvae.model.depth": 1,
    "vqvae.train.iterations": 20,
    "vqvae.train.warmup": 5,
    "vqvae.train.milestones": [15],
    "vqvae.train.log_every": 10,
    "vqvae.train.eval_every": 20,
    "vqvae.train.checkpoint_every": 10,
    "vqvae.gifs": 0,
    "vqvae.max_test_mpjpe_mm": 10_000.0,
    "vqvae.min_codes_used": 0.0,
}

pytestmark = pytest.mark.skipif(
    not (BIN / "dvc").exists() or not (BIN / "motion-r1").exists(),
    reason="needs dvc and the motion-r1 console script in the environment (pip install -e .)",
)


def _edit_yaml(path: Path, edit: dict) -> None:
    """Set dotted keys in a YAML file, e.g. {"data.procedural.seed": 3}."""
    data = yaml.safe_load(path.read_text()) or {}
    for dotted, value in edit.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user running dvc: our bin on PATH, MLflow and Dagster in tmp_path,
    a git identity, no overrides."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MOTION_R1_ROOT", "MOTION_R1_PROFILE", "VIRTUAL_ENV", "DAGSTER_HOME")
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow' / 'mlruns.db'}",
        **GIT_IDENTITY,
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{out}"
    return out


def _copy_project(dst: Path) -> Path:
    """Copy the files a DVC run needs (the tree may hold nothing committed yet), minus caches;
    .dvc/config brings the default remote (dvc-storage/ inside the copy)."""
    for name in PROJECT_FILES:
        src, out = REPO / name, dst / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(src, out)
    return dst


def _smoke_project(tmp_path: Path, env: dict[str, str], overlay: dict | None = None) -> Path:
    """A committed git + DVC copy of the project on the smoke profile with MOTIONS motions
    (the overlay sets the corpus size, so it is set there too) and `overlay` in smoke.yaml."""
    root = _copy_project(tmp_path / "project")
    _edit_yaml(root / "params.yaml", {"profile": "smoke", "data.procedural.motions": MOTIONS})
    smoke = {"data.procedural.motions": MOTIONS, **(overlay or {})}
    _edit_yaml(root / "configs" / "smoke.yaml", smoke)
    git_commit(root)
    return root


def _ran(out: str) -> set[str]:
    """The stages a `dvc repro` / `dvc exp run` log says it ran."""
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}


def _file_hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _lock_hash(root: Path, stage: str, path: str) -> str:
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"][stage]
    return next(o["md5"] for o in lock["outs"] if o["path"] == path)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A committed smoke project (tiny tokenizer in its overlay) after one `dvc repro
    raw_motions`; the tests below use it in order: rerun, push/pull, experiment + Dagster."""
    tmp = tmp_path_factory.mktemp("dvc")
    env = _env(tmp)
    root = _smoke_project(tmp, env, TINY_VQVAE)
    head = _run(["git", "rev-parse", "HEAD"], root, env).strip()
    out = _run(["dvc", "repro", "raw_motions"], root, env)
    return {"root": root, "env": env, "head": head, "first": out}


def test_repro_runs_skips_and_reruns_on_a_param_change(project: dict) -> None:
    from mlflow.tracking import MlflowClient

    from motion_r1_core.provenance import content_hash

    root, env = project["root"], project["env"]
    assert _ran(project["first"]) == {"raw_motions"}
    folder = root / "data" / "raw" / "procedural"
    assert len(list((folder / "new_joint_vecs").glob("*.npy"))) == MOTIONS
    metrics = json.loads((root / "artifacts/procedural/raw_motions/metrics.json").read_text())
    assert metrics["n_motions"] == MOTIONS
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["raw_motions"]
    params = lock["params"]
    assert params["params.yaml"]["profile"] == "smoke"
    assert params["configs/smoke.yaml"]["data"]["procedural"]["motions"] == MOTIONS
    assert {o["path"] for o in lock["outs"]} == {
        "data/raw/procedural",
        "artifacts/procedural/raw_motions/metrics.json",
    }
    first_mean = (folder / "Mean.npy").read_bytes()

    # the run's provenance: the commit it ran at, a clean tree, DVC's own hash of its output
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    [run] = client.search_runs(client.search_experiments()[0].experiment_id)
    raw_hash = _lock_hash(root, "raw_motions", "data/raw/procedural")
    assert raw_hash.endswith(".dir") and content_hash(folder) == raw_hash
    assert run.data.tags["dvc.out.data/raw/procedural"] == raw_hash
    assert run.data.tags["mlflow.source.git.commit"] == project["head"]
    assert run.data.tags["git.dirty"] == "false"

    assert _ran(_run(["dvc", "repro", "raw_motions"], root, env)) == set()

    _edit_yaml(root / "params.yaml", {"data.procedural.seed": 3})
    status = _run(["dvc", "status", "raw_motions"], root, env)
    assert "data.procedural" in status
    assert _ran(_run(["dvc", "repro", "raw_motions"], root, env)) == {"raw_motions"}
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]["raw_motions"]
    assert lock["params"]["params.yaml"]["data.procedural"]["seed"] == 3
    assert len(list((folder / "new_joint_vecs").glob("*.npy"))) == MOTIONS
    assert (folder / "Mean.npy").read_bytes() != first_mean  # a new seed, a new corpus
    runs = client.search_runs(
        client.search_experiments()[0].experiment_id, order_by=["attributes.start_time DESC"]
    )
    assert runs[0].data.tags["git.dirty"] == "true"  # params.yaml differs from the commit
    assert runs[0].data.tags["dvc.out.data/raw/procedural"] == _lock_hash(
        root, "raw_motions", "data/raw/procedural"
    )


def test_push_delete_pull_restores_the_same_bytes(project: dict) -> None:
    root, env = project["root"], project["env"]
    folder = root / "data" / "raw" / "procedural"
    before = _file_hashes(folder)
    assert len(before) > 2 * MOTIONS

    out = _run(["dvc", "push"], root, env)
    assert "pushed" in out
    assert (root / "dvc-storage" / "files" / "md5").is_dir()  # the remote of .dvc/config
    shutil.rmtree(folder)
    shutil.rmtree(root / ".dvc" / "cache")
    assert "not in cache" in _run(["dvc", "status", "raw_motions"], root, env)

    _run(["dvc", "pull", "raw_motions"], root, env)  # the stage that has run
    assert _file_hashes(folder) == before
    assert "up to date" in _run(["dvc", "status", "raw_motions"], root, env)
    assert _ran(_run(["dvc", "repro", "raw_motions"], root, env)) == set()


def test_dvc_exp_run_and_dagster_asset_selection_work_in_one_environment(
    project: dict, tmp_path: Path
) -> None:
    """Both parse with antlr (Hydra for `-S`, Dagster for `--select`): one install runs both."""
    root, env = project["root"], project["env"]
    exp = ["dvc", "exp", "run", "-S", "data.procedural.seed=5", "-n", "seed5", "raw_motions"]
    assert _ran(_run(exp, root, env)) == {"raw_motions"}
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], root, env))
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    [found] = [e for e in exps if e.get("name") == "seed5"]
    data = found["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["data"]["procedural"]["seed"] == 5
    metrics = data["metrics"]["artifacts/procedural/raw_motions/metrics.json"]["data"]
    assert metrics["n_motions"] == MOTIONS

    home = tmp_path / "dagster_home"
    home.mkdir()
    dagster_env = {**env, "DAGSTER_HOME": str(home), "MOTION_R1_ROOT": str(root)}
    select = ["--select", "motion_vqvae", "--partition", "procedural"]
    in_process = ["--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})]
    out = _run(
        ["dagster", "asset", "materialize", *select, *in_process, "-m", "pipelines.definitions"],
        root,
        dagster_env,
    )
    assert "RUN_SUCCESS" in out
    vq = json.loads((root / "artifacts/procedural/vqvae/metrics.json").read_text())
    assert vq["train_steps"] == TINY_VQVAE["vqvae.train.iterations"]


def test_a_param_change_reruns_its_readers_and_everything_downstream_only(
    tmp_path: Path,
) -> None:
    """The whole graph with each stage's command replaced by one that writes fresh bytes to its
    outputs: what reruns after editing one key is the stages that read it (found in the source,
    tests/test_dvc_deps.py) and every stage below them in the Dagster graph, nothing else."""
    import dagster as dg
    from test_dvc_deps import module_closure, params_read

    from motion_r1_core.stages import STAGES
    from pipelines.definitions import defs

    env = _env(tmp_path)
    root = _copy_project(tmp_path / "project")
    (root / "fake_stage.py").write_text(
        "import json, pathlib, sys, uuid\n"
        "for out in sys.argv[1:]:\n"
        "    p = pathlib.Path(out)\n"
        "    if not p.suffix:\n"
        "        p.mkdir(parents=True, exist_ok=True)\n"
        "        p = p / 'part'\n"
        "    p.parent.mkdir(parents=True, exist_ok=True)\n"
        "    p.write_text(json.dumps({'run': uuid.uuid4().hex}))\n"
    )
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    for stage in dvc_yaml["stages"].values():
        body = stage.get("do", stage)
        outs = [
            next(iter(o)) if isinstance(o, dict) else o
            for kind in ("outs", "metrics", "plots")
            for o in body.get(kind, [])
        ]
        body["cmd"] = "python fake_stage.py " + " ".join(outs)
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    _run(["git", "init", "-q"], root, env)

    everything = _ran(_run(["dvc", "repro"], root, env))
    assert len(everything) == 12  # 8 stages and grpo_policy once per ablation
    assert _ran(_run(["dvc", "repro"], root, env)) == set()

    graph = defs().resolve_asset_graph()

    def below(keys: set[dg.AssetKey]) -> set[str]:
        out, todo = set(keys), list(keys)
        while todo:
            for child in graph.get(todo.pop()).child_keys:
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return {"@".join(k.path) for k in out}

    reads = {s: params_read(module_closure(t.split(":")[0])) for s, t in STAGES.items()}
    for key, value in [
        ("tokens.mirror", False),
        ("policy.grpo.steps", 5),
        ("report.gallery", 1),
    ]:
        path = tuple(key.split("."))
        readers = {s for s, r in reads.items() if any(path[: len(p)] == p for p in r)}
        assert readers, key
        keys = {k for k in graph.get_all_asset_keys() if k.path[0] in readers}
        _edit_yaml(root / "params.yaml", {key: value})
        assert _ran(_run(["dvc", "repro"], root, env)) == below(keys), key
