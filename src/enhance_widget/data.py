"""The photos that ship with the package, as paths: the sample the demo and quickstart open, and
the evaluation photos the research notebooks measure models on (crops of scikit-image 0.26.0's
sample photos; astronaut and rocket: public domain, coffee and chelsea: CC0).

They live in ``models/`` of a source checkout and in ``enhance_widget/_bundled/`` of the wheel;
these accessors find them in either, so notebooks run the same from a checkout and an install.
Pure Python (works under Pyodide too).
"""

from __future__ import annotations

from pathlib import Path

from .catalog import package_dirs, sample_image_path


def sample() -> Path:
    """The small sample photo (PNG, RGB)."""
    return sample_image_path()


def eval_dir() -> Path:
    """The folder of evaluation photos."""
    for d in package_dirs():
        if any((d / "eval").glob("*.png")):
            return d / "eval"
    raise FileNotFoundError("the evaluation photos are missing from this installation")


def eval_names() -> list[str]:
    """The evaluation photos' names (without ``.png``), sorted."""
    return sorted(p.stem for p in eval_dir().glob("*.png"))


def eval_image(name: str) -> Path:
    """The path of one evaluation photo, e.g. ``eval_image("astronaut")``."""
    path = eval_dir() / f"{name}.png"
    if not path.is_file():
        raise FileNotFoundError(f"no evaluation photo {name!r}; there are {', '.join(eval_names())}")
    return path


__all__ = ["eval_dir", "eval_image", "eval_names", "sample"]
