"""Scale-out throughput, measured side by side: enhance_many on 1 and 2 local worker processes
(images per second and their ratio) and enhance_dask on a LocalCluster (megapixels per second).

    python benchmarks/batch_benchmark.py [--images 24] [--side 192] [--model esrgan-slim-x2]
        [--reps 2] [--dask-side 1024] [--dask-model esrgan-slim-x2] [--json OUT.json]

Batch: ``--images`` different crops of the evaluation photos (``--side`` px) as PNG files, run
through ``enhance_many`` with ``workers=1`` and ``workers=2`` (one onnxruntime thread per worker,
so the ratio is the parallelism of the processes), interleaved ``--reps`` times (1, 2, 1, 2...)
so that load from other processes hits both alike; the time is the whole call (pool start, model
load, every image), the best of the reps. Dask: a ``--dask-side`` square image in 512-px chunks
from Zarr through ``enhance_dask`` to Zarr on a LocalCluster of 2 worker processes x 1 thread,
next to the in-process engine on the same image with 2 threads (input megapixels per second).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "models" / "eval"


def photos() -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(EVAL.glob("*.png"))]


def write_images(folder: Path, n: int, side: int) -> list[Path]:
    pics = photos()
    paths = []
    for i in range(n):
        p = pics[i % len(pics)]
        big = np.tile(p, (2, 2, 1)) if min(p.shape[:2]) <= side else p
        y, x = 17 * i % (big.shape[0] - side), 31 * i % (big.shape[1] - side)
        path = folder / f"img{i:03d}.png"
        Image.fromarray(big[y : y + side, x : x + side]).save(path)
        paths.append(path)
    return paths


def bench_batch(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    from enhance_widget.batch import enhance_many

    paths = write_images(folder, args.images, args.side)
    task = {"task": "upscale", "scale": 2} if args.model.endswith("x2") else {"task": "restore"}
    best: dict[int, float] = {}
    for rep in range(args.reps):
        for workers in (1, 2):
            t0 = time.perf_counter()
            result = enhance_many(paths, **task, model=args.model, workers=workers, threads=1, progress=False)
            secs = time.perf_counter() - t0
            if result.failures:
                raise SystemExit(f"failures: {[(f.source, f.error) for f in result.failures]}")
            best[workers] = min(best.get(workers, secs), secs)
            print(f"  rep {rep + 1}: {workers} worker(s) {args.images / secs:6.2f} images/s ({secs:.1f} s)")
    one, two = args.images / best[1], args.images / best[2]
    print(f"batch ({args.images} images {args.side}x{args.side}, {args.model}, 1 thread per worker):")
    print(f"  1 worker : {one:6.2f} images/s")
    print(f"  2 workers: {two:6.2f} images/s")
    print(f"  ratio    : {two / one:6.2f}x")
    return {"images_per_s_1": one, "images_per_s_2": two, "ratio": two / one}


def bench_dask(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from enhance_widget import enhance
    from enhance_widget.dask_array import enhance_dask, to_zarr

    side = args.dask_side
    pic = photos()[0]
    img = np.tile(np.concatenate([pic, pic[:, ::-1]], 1), (side // pic.shape[0] + 1, side // pic.shape[1], 1))
    img = np.ascontiguousarray(img[:side, :side])
    with dask.config.set(scheduler="sync"):
        da.from_array(img, chunks=(512, 512, 3)).to_zarr(str(folder / "in.zarr"))
    task = {"task": "upscale", "scale": 2} if args.dask_model.endswith("x2") else {"task": "restore"}
    mpx = side * side / 1e6
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    with cluster, Client(cluster) as client:
        client.run(lambda: None)  # workers up
        x = da.from_zarr(str(folder / "in.zarr"))
        y = enhance_dask(x, **task, model=args.dask_model, tile=256, overlap=16, threads=1)
        t0 = time.perf_counter()
        to_zarr(y, folder / "out.zarr")
        dask_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    enhance(img, **task, model=args.dask_model, tile=256, overlap=16, threads=2)
    local_s = time.perf_counter() - t0
    print(f"enhance_dask ({side}x{side} in 512-px chunks, {args.dask_model}, tile 256, to Zarr):")
    print(f"  LocalCluster 2 workers x 1 thread: {mpx / dask_s:6.3f} Mpx/s ({dask_s:.1f} s)")
    print(f"  in-process enhance, 2 threads    : {mpx / local_s:6.3f} Mpx/s ({local_s:.1f} s)")
    return {"dask_mpx_per_s": mpx / dask_s, "in_process_mpx_per_s": mpx / local_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--side", type=int, default=192)
    ap.add_argument("--model", default="esrgan-slim-x2")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--dask-side", type=int, default=1024)
    ap.add_argument("--dask-model", default="esrgan-slim-x2")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        out = {**bench_batch(args, Path(tmp)), **bench_dask(args, Path(tmp))}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
