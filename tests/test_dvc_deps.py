"""dvc.yaml names, for each stage, every core module its stage function imports and only the
params it reads, so that `dvc repro` reruns exactly what a code or parameter change affects.

Modules: the transitive closure of imports (anywhere in a file, functions included) inside
`motion_r1_core`, from the stage's module, with the package `__init__`s on the way. Params: the
configuration paths the closure reads, found by following attribute chains from a `Config`
(`cfg.vqvae.train.lr`), from a local alias of one (`v = cfg.vqvae`; `v.train.lr`) or from a
parameter annotated with a section's model (`cfg: VQVAETrainConfig`; `cfg.lr`).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from motion_r1_core.config import Config
from motion_r1_core.stages import STAGES

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "motion_r1_core"
# Plumbing every stage passes through that changes no result: logging to MLflow, the command
# line, and the lazy stage registry. Editing them must not retrain everything.
EXEMPT = {
    "motion_r1_core/__init__.py",  # the version string
    "motion_r1_core/tracking.py",
    "motion_r1_core/provenance.py",  # hashes and the commit, as tags of the run
    "motion_r1_core/cli.py",
    "motion_r1_core/stages/__init__.py",
}
ALWAYS = {"profile"}  # `configs/${profile}.yaml` is tracked through this key
RUNTIME = {"root"}  # fields of Config that are not parameters (set by the loader)
DUMPS = {"model_dump", "model_dump_json"}  # methods that read a whole section
LOGGING = {"log_stage", "log_params"}  # what goes to MLflow only changes no result


# ------------------------------------------------------------------------------ module closure
def _module_file(name: str) -> Path | None:
    base = REPO / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path) -> set[str]:
    """Dotted names of the `motion_r1_core` modules a file imports, anywhere in it."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:  # `from pkg import module` imports a module too
                sub = f"{node.module}.{alias.name}"
                out.add(sub if _module_file(sub) else node.module)
    return out


def module_closure(module: str) -> set[str]:
    """Repository-relative files of `module` and every core module it imports, transitively,
    with the `__init__.py` of each package on the way."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in seen:
                continue
            path = _module_file(prefix)
            if path is None:
                raise AssertionError(f"{module} imports {prefix}, which does not exist")
            seen.add(prefix)
            todo += _imports(path)
    return {
        str(_module_file(m).relative_to(REPO))  # type: ignore[union-attr]
        for m in seen
    } - EXEMPT


# --------------------------------------------------------------------------------- params read
def _chain(node: ast.AST) -> list[str] | None:
    """`a.b.c` -> ["a", "b", "c"]; None for anything that is not a name with attributes."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(names)]
    return None


def _property_reads(cls: type[BaseModel], name: str) -> set[tuple[str, ...]]:
    """The fields `cls.name` (a property) reads from `self`."""
    source = textwrap.dedent(inspect.getsource(getattr(cls, name).fget))
    return {
        (n.attr,)
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
        and n.attr in cls.model_fields
    }  # fmt: skip


def _config_paths(path: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The configuration keys an attribute chain below `Config` reads: the chain up to its last
    field; a property's own reads; nothing for a method (`model_dump` logs, `raw_dir` is a path)
    or for a runtime field (`root`)."""
    if path and path[0] in RUNTIME:
        return set()
    model: Any = Config
    for i, part in enumerate(path):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return {path[:i]}
        if part in model.model_fields:
            model = model.model_fields[part].annotation
            continue
        attr = getattr(model, part, None)
        if isinstance(attr, property):
            return {(*path[:i], *p) for p in _property_reads(model, part)}
        if part in DUMPS:
            return {path[:i]}  # the section, serialised whole
        return set()  # a method
    return {path}


def _logged(node: ast.AST) -> bool:
    """Whether `node` is inside the arguments of a logging call (`log_stage(...)`)."""
    while (node := getattr(node, "parent", None)) is not None:
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in LOGGING:
                return True
    return False


def params_read(files: set[str]) -> set[tuple[str, ...]]:
    """Configuration keys read in `files`: attribute chains from a parameter annotated `Config`
    or from a local alias of a section of it (`v = cfg.vqvae`), in every function. A section
    passed on whole (`train(v.train)`) is read whole; `getattr(section, name)` is not resolved."""
    found: set[tuple[str, ...]] = set()
    for rel in files:
        tree = ast.parse((REPO / rel).read_text())
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                child.parent = node  # type: ignore[attr-defined]
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        for fn in functions:
            roots: dict[str, tuple[str, ...]] = {
                a.arg: ()
                for a in [*fn.args.args, *fn.args.kwonlyargs]
                if a.annotation is not None and ast.unparse(a.annotation).strip("'") == "Config"
            }
            aliased: set[int] = set()  # the right-hand sides of aliases read nothing alone
            for node in ast.walk(fn):  # aliases, in source order: `v = cfg.vqvae`
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, chain = node.targets[0], _chain(node.value)
                    if isinstance(target, ast.Name) and chain and chain[0] in roots:
                        paths = _config_paths((*roots[chain[0]], *chain[1:]))
                        if len(paths) == 1 and all(paths):
                            roots[target.id] = paths.pop()
                            aliased.add(id(node.value))
            for node in ast.walk(fn):
                parent = getattr(node, "parent", None)
                if isinstance(parent, ast.Attribute) or not isinstance(
                    node, ast.Attribute | ast.Name
                ):
                    continue  # only whole chains: `cfg.vqvae.train.lr`, not `cfg.vqvae`
                if (
                    _logged(node)
                    or id(node) in aliased
                    or (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store))
                ):
                    continue  # an alias (`v = cfg.vqvae`) reads nothing until it is used
                if (
                    isinstance(parent, ast.Call)
                    and ast.unparse(parent.func) == "getattr"
                    and parent.args
                    and parent.args[0] is node
                ):
                    continue
                chain = _chain(node)
                if chain and chain[0] in roots and (len(chain) > 1 or roots[chain[0]]):
                    found |= {p for p in _config_paths((*roots[chain[0]], *chain[1:])) if p}
    return found


# ------------------------------------------------------------------------------------ the test
def _dvc_stages() -> dict[str, dict[str, Any]]:
    """dvc.yaml's stages for the procedural dataset (`${dataset}`, params.yaml's `dataset`)."""
    text = (REPO / "dvc.yaml").read_text().replace("${dataset}", "procedural")
    return yaml.safe_load(text)["stages"]


def _declared_params(stage: dict[str, Any]) -> set[tuple[str, ...]]:
    out = set()
    for item in stage.get("params", []):
        if isinstance(item, str):
            out.add(tuple(item.split(".")))
    return out


def missing_modules(deps: list[str], closure: set[str]) -> list[str]:
    """Modules of the closure that no dep (a file or a folder above it) covers."""

    def covered(path: str) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)

    return sorted(p for p in closure if not covered(p))


def _model_at(path: tuple[str, ...]) -> Any:
    model: Any = Config
    for part in path:
        model = model.model_fields[part].annotation
    return model


def fully_read(p: tuple[str, ...], read: set[tuple[str, ...]]) -> bool:
    """Whether the stage reads every key under `p` (`p` itself, a section above it, or each
    field of the section `p`, recursively)."""
    if any(p[: len(r)] == r for r in read):
        return True
    model = _model_at(p)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return False
    return all(fully_read((*p, f), read) for f in model.model_fields)


def minimal_params(read: set[tuple[str, ...]]) -> list[str]:
    """The shortest list of keys that names exactly what is read: a section where every key
    of it is read, its keys otherwise (what dvc.yaml should declare)."""
    out: set[tuple[str, ...]] = set()
    for r in read:
        top = r
        for i in range(1, len(r)):
            if fully_read(r[:i], read):
                top = r[:i]
                break
        out.add(top)
    return sorted(".".join(p) for p in out if not any(q != p and p[: len(q)] == q for q in out))


def unread_params(declared: set[tuple[str, ...]], read: set[tuple[str, ...]]) -> list[str]:
    """Declared params the stage does not read whole: a key it never reads, or a section with
    a key the stage never reads (declare the keys it reads instead)."""
    return sorted(
        ".".join(p) for p in declared if ".".join(p) not in ALWAYS and not fully_read(p, read)
    )


def undeclared_params(declared: set[tuple[str, ...]], read: set[tuple[str, ...]]) -> list[str]:
    """Params the stage reads that no declared param covers."""
    return sorted(".".join(r) for r in read if not any(r[: len(p)] == p for p in declared))


# a `foreach` stage is checked through its `do` template (every item runs the same code)
CASES = sorted((name, stage.get("do", stage)) for name, stage in _dvc_stages().items())


@pytest.mark.parametrize(("name", "stage"), CASES, ids=[n for n, _ in CASES])
def test_each_dvc_stage_depends_on_its_code_and_reads_its_params(
    name: str, stage: dict[str, Any]
) -> None:
    module = STAGES[name].split(":")[0]
    closure = module_closure(module)
    assert missing_modules(stage["deps"], closure) == [], f"add these to {name}'s deps"
    read = params_read(closure)
    declared = _declared_params(stage)
    assert unread_params(declared, read) == [], f"{name} declares params it never reads"
    assert undeclared_params(declared, read) == [], f"{name} reads params dvc.yaml does not name"


def test_the_checks_name_a_dropped_dep_and_a_param_never_read() -> None:
    closure = module_closure("motion_r1_core.stages.motion_tokens")
    assert (
        "motion_r1_core/features.py" in closure and "motion_r1_core/config/tokenizer.py" in closure
    )
    deps = sorted(closure - {"motion_r1_core/features.py"})
    assert missing_modules(deps, closure) == ["motion_r1_core/features.py"]
    assert missing_modules(["motion_r1_core"], closure) == []  # a folder covers its files
    read = params_read(closure)
    assert ("tokens", "mirror") in read
    assert unread_params({("tokens",), ("encoders", "lr")}, read) == ["encoders.lr"]
    assert undeclared_params({("profile",)}, read)  # tokens.mirror and more are read
