"""One-way layers: no module imports a module of a higher layer (docs/architecture.md), checked by walking the
imports of every module (function-level imports included) of jaxdistill/, experiments/ and benchmarks/."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[set[str]] = [
    {"jaxdistill.core"},  # errors, sharding, checkpoints, the run loop, multi-process; the package root too
    {"jaxdistill.envs"},
    {"jaxdistill.nets"},
    {"jaxdistill.policy"},
    {"jaxdistill.rl"},
    {"jaxdistill.learn"},  # synthetic datasets, inner training, learner distributions, students
    {"jaxdistill.eval"},
    {"jaxdistill.distill"},
    {"jaxdistill.offline"},
    {"jaxdistill.run"},  # with jaxdistill.presets and jaxdistill.launch
    {"experiments", "benchmarks"},  # side by side: neither imports the other
]
GROUP_OF = {"jaxdistill": "jaxdistill.core", "jaxdistill.presets": "jaxdistill.run",
            "jaxdistill.launch": "jaxdistill.run", "jaxdistill.__version__": "jaxdistill.core"}


def group(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in ("experiments", "benchmarks"):
        return parts[0]
    if parts[0] != "jaxdistill":
        return None
    name = ".".join(parts[:2])
    return GROUP_OF.get(name, name)


def rank(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and to docs/architecture.md")


def upward_imports(root: Path, packages=("jaxdistill", "experiments", "benchmarks")) -> list[str]:
    """Every import of a module of a higher layer (or of the other top-level package beside it), as
    ``file:line imports module (layer of importer < layer of imported)``."""
    problems = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            own = group(module.removesuffix(".__init__"))
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    targets = [node.module]
                    if node.module == "jaxdistill":  # from jaxdistill import core, learn, ...
                        targets = [f"jaxdistill.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                for target in targets:
                    theirs = group(target)
                    if theirs is None or theirs == own:
                        continue
                    if rank(theirs) >= rank(own):
                        problems.append(f"{path.relative_to(root)}:{node.lineno} imports {target} ({own} may not "
                                        f"import {theirs})")
    return problems


def test_no_module_imports_a_higher_layer():
    problems = upward_imports(ROOT)
    assert not problems, "imports that go upward:\n" + "\n".join(problems)


def test_an_upward_import_is_named_with_its_file_and_line(tmp_path):
    for package, text in {"jaxdistill/nets/bad.py": "import jax\n\nfrom jaxdistill.learn.dataset import X\n",
                          "jaxdistill/learn/ok.py": "from jaxdistill.nets.networks import LearnerSpec\n",
                          "benchmarks/b.py": "def f():\n    from experiments.minatar import PRESETS\n",
                          "experiments/e.py": "from jaxdistill import presets\n"}.items():
        (tmp_path / package).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / package).write_text(text)
    assert upward_imports(tmp_path) == [
        "jaxdistill/nets/bad.py:3 imports jaxdistill.learn.dataset (jaxdistill.nets may not import jaxdistill.learn)",
        "benchmarks/b.py:2 imports experiments.minatar (benchmarks may not import experiments)",
    ]
