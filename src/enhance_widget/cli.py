"""Command line: ``enhance-widget enhance | models | demo | batch``.

Exit codes: 0 ok, 2 bad input (any EnhanceError), 130 cancelled (Ctrl-C; no partial output).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import Cancelled, EnhanceError
from .progress import CallbackProgress, CancelToken, TileEvent

EXIT_OK, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 2, 130


def _tile_arg(value: str) -> int | str:
    if value in ("auto", "whole"):
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must be 'auto', 'whole' or a number, got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="enhance-widget", description="Enhance photos with local AI models.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enhance", help="enhance one image")
    e.add_argument("input", type=Path)
    e.add_argument("-o", "--output", type=Path, required=True)
    e.add_argument("--task", default="upscale", choices=["upscale", "restore", "deblur", "colorize"])
    e.add_argument("--scale", type=int, default=None, help="2 or 4 (upscale only; default 4)")
    e.add_argument("--model", default=None, help="model id (see `enhance-widget models`)")
    e.add_argument("--tile", type=_tile_arg, default="auto", help="auto, whole, or a tile side in pixels")
    e.add_argument("--overlap", type=int, default=16)
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    m = sub.add_parser("models", help="list the models and verify their files; build one")
    m.add_argument("--task", default=None)
    msub = m.add_subparsers(dest="models_command")
    b = msub.add_parser("build", help="re-create a model from its recipe (large models are not shipped)")
    b.add_argument("model_id")
    b.add_argument(
        "--into",
        type=Path,
        default=None,
        help="models folder (default: first of $ENHANCE_WIDGET_MODELS, else the user models folder)",
    )
    b.add_argument("--dry-run", action="store_true", help="print the command and exit")
    d = sub.add_parser("demo", help="run the default model on the bundled sample image")
    d.add_argument("-o", "--out-dir", type=Path, default=Path("enhance-demo"))
    d.add_argument("--scale", type=int, default=4)
    _add_batch_parser(sub)
    return p


def _add_batch_parser(sub: Any) -> None:
    b = sub.add_parser("batch", help="enhance every image of a folder, in parallel; resumable")
    b.add_argument("input_dir", type=Path)
    b.add_argument("-o", "--out-dir", type=Path, required=True)
    b.add_argument("--task", default="upscale", choices=["upscale", "restore", "deblur", "colorize"])
    b.add_argument("--scale", type=int, default=None, help="2 or 4 (upscale only; default 4)")
    b.add_argument("--model", default=None, help="model id (see `enhance-widget models`)")
    b.add_argument("--quality", default="balanced", choices=["fast", "balanced", "best"])
    b.add_argument("--tile", type=_tile_arg, default="auto", help="auto, whole, or a tile side in pixels")
    b.add_argument("--overlap", type=int, default=16)
    b.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    b.add_argument("--threads", type=int, default=None, help="onnxruntime threads per worker")
    b.add_argument("--scheduler", default=None, help="a Dask scheduler's address: run on that cluster")
    b.add_argument(
        "--send",
        default="paths",
        choices=["paths", "bytes"],
        help="paths: workers share this filesystem; bytes: images and models travel to them",
    )
    b.add_argument("--no-resume", action="store_true", help="redo outputs that are already there")
    b.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_batch(args: argparse.Namespace) -> int:
    """Every image of a folder into another; verified outputs of an earlier run are skipped."""
    from .batch import enhance_many, image_files

    files = image_files(args.input_dir)
    if not files:
        raise EnhanceError(f"no image files in {args.input_dir}")
    client: Any = None
    executor = None
    if args.scheduler:
        import importlib

        try:
            distributed: Any = importlib.import_module("distributed")
        except ImportError:
            raise EnhanceError("--scheduler needs Dask: pip install 'enhance-widget[scale]'") from None
        client = distributed.Client(args.scheduler)
        executor = client.get_executor()
    try:
        result = enhance_many(
            files,
            task=args.task,
            scale=args.scale,
            model=args.model,
            tile=args.tile,
            overlap=args.overlap,
            quality=args.quality,
            threads=args.threads,
            executor=executor,
            workers=args.workers,
            output_dir=args.out_dir,
            resume=not args.no_resume,
            send=args.send,
            progress=not args.quiet,
        )
    finally:
        if client is not None:
            client.close()
    for item in result.failures:
        print(f"failed: {item.source}: {type(item.error).__name__}: {item.error}", file=sys.stderr)
    print(f"{result.summary()}; outputs and {result.records_path} in {args.out_dir}")
    return EXIT_BAD_INPUT if result.failures else EXIT_OK


def _run_with_bar(kwargs: dict[str, Any], quiet: bool) -> Any:
    """Run ``enhance`` in a worker thread so Ctrl-C can cancel inside a tile."""
    from tqdm import tqdm

    from .api import enhance

    token = CancelToken()
    bar = None if quiet else tqdm(total=0, unit="tile", desc="enhance", file=sys.stderr)

    def on_total(n: int) -> None:
        if bar is not None:
            bar.reset(total=n)

    def on_tile(ev: TileEvent) -> None:
        if bar is not None:
            bar.set_postfix_str(f"pass {ev.pass_index + 1}/{ev.passes}, {ev.ms:.0f} ms")
            bar.update(1)

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = enhance(**kwargs, progress=CallbackProgress(on_tile, token, on_total))
        except BaseException as exc:
            outcome["error"] = exc

    t = threading.Thread(target=work, name="enhance-worker", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.1)
    except KeyboardInterrupt:
        token.cancel()
        t.join()
        raise
    finally:
        if bar is not None:
            bar.close()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def cmd_enhance(args: argparse.Namespace) -> int:
    kwargs = {
        "source": args.input,
        "task": args.task,
        "scale": args.scale,
        "model": args.model,
        "tile": args.tile,
        "overlap": args.overlap,
        "threads": args.threads,
    }
    result = _run_with_bar(kwargs, args.quiet)
    out = result.save(args.output)
    rec = result.record
    print(
        f"wrote {out} ({result.size[0]}x{result.size[1]}) with {rec['model']['id']} on "
        f"{rec['runtime']['provider']} in {rec['total_ms'] / 1000:.1f} s"
    )
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    """Run a model's recipe into a models folder, then verify the built file's sha256."""
    import os
    import subprocess

    from .catalog import MODELS_ENV, catalog, user_models_dir, verify_bytes

    card = catalog().get(args.model_id)
    into: Path | None = args.into
    if into is None and os.environ.get(MODELS_ENV):
        into = Path(os.environ[MODELS_ENV].split(os.pathsep)[0])
    if into is None:
        into = user_models_dir()  # always searched, so the built model is found without settings
    script = card.recipe_script
    if script is None or not script.is_file():
        raise EnhanceError(
            f"the recipe of {card.id!r} ({card.recipe}) is in the project's source repository; "
            "run this command from a checkout of it"
        )
    cmd = card.recipe_command(into.resolve())
    print("recipe:", " ".join(cmd))
    existing = into / (card.file or "")
    if existing.is_file():
        verify_bytes(card, existing.read_bytes())  # a damaged copy is reported, never overwritten
        print(f"{existing} is already installed and verified; nothing to build")
        return EXIT_OK
    if args.dry_run:
        return EXIT_OK
    into.mkdir(parents=True, exist_ok=True)
    rc = subprocess.run(cmd, cwd=script.parents[2]).returncode
    if rc != 0:
        raise EnhanceError(f"the recipe failed with exit code {rc}")
    built = into / (card.file or "")
    verify_bytes(card, built.read_bytes())
    from .catalog import search_dirs

    found = into.resolve() in [d.resolve() for d in search_dirs()]
    where = "it is found there from now on" if found else f"set {MODELS_ENV}={into} to use it"
    print(f"built and verified {built}; {where}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    if getattr(args, "models_command", None) == "build":
        return cmd_build(args)
    from .api import list_models
    from .catalog import read_verified

    bad = 0
    for card in list_models(args.task):
        if card.is_chain:
            status = "chain of " + " + ".join(card.chain)
        elif not card.installed:
            status = "optional, not installed"
        else:
            try:
                read_verified(card)
                status = "verified"
            except EnhanceError as exc:
                status = f"FAILED: {exc}"
                bad += 1
        src = card.source
        print(
            f"{card.id:28} {card.task:9} x{card.scale}  {status:24} license: {card.license}; "
            f"source: {src.get('registry', '?')} {src.get('package', '')}@{src.get('version', '')}"
        )
    return EXIT_BAD_INPUT if bad else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from PIL import Image

    from .catalog import sample_image_path

    sample = sample_image_path()
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    result = _run_with_bar({"source": sample, "task": "upscale", "scale": args.scale}, quiet=False)
    after = result.save(out_dir / "after.png")
    before_img = Image.open(sample).convert("RGB")
    before = out_dir / "before.png"
    before_img.save(before)
    big = before_img.resize(result.size, Image.Resampling.NEAREST)
    side = Image.new("RGB", (result.size[0] * 2 + 8, result.size[1]), "white")
    side.paste(big, (0, 0))
    side.paste(result.image.convert("RGB"), (result.size[0] + 8, 0))
    sbs = out_dir / "side_by_side.png"
    side.save(sbs)
    rec = result.record
    print(f"before:       {before}")
    print(f"after:        {after} (x{args.scale}, {rec['model']['id']}, {rec['total_ms'] / 1000:.1f} s)")
    print(f"side by side: {sbs} (left: input enlarged with nearest neighbour; right: model)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"enhance": cmd_enhance, "models": cmd_models, "demo": cmd_demo, "batch": cmd_batch}
    try:
        return handlers[args.command](args)
    except (KeyboardInterrupt, Cancelled):
        print("cancelled; no output written", file=sys.stderr)
        return EXIT_CANCELLED
    except EnhanceError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def entry() -> None:
    """Console-script entry point.

    After a cancel, onnxruntime's worker threads may still be unwinding when the interpreter
    shuts down, which can abort the process; leaving with ``os._exit`` keeps the exit code 130.
    """
    code = main()
    if code == EXIT_CANCELLED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
