"""Scale out: enhance_many on a real Dask LocalCluster and on the default process pool, the
resumable CLI batch (a real subprocess killed half-way), and enhance_dask on chunked arrays.

Models are named explicitly (the defaults may change): esrgan-slim-x2 (tiny x2) and
ffdnet-color-int8 (the fastest tracked model) keep this file to well under two minutes.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from enhance_widget import enhance
from enhance_widget.catalog import catalog, read_verified
from enhance_widget.errors import (
    EnhanceError,
    ImageDecodeError,
    ImageTooLargeError,
    ModelIntegrityError,
    UnsupportedImageError,
)

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from enhance_widget.batch import RECORDS_FILE, enhance_many, output_names, verified_record  # noqa: E402
from enhance_widget.dask_array import RECORD_ATTR, enhance_dask, to_zarr  # noqa: E402
from enhance_widget.workers import ErrorInfo, ModelRef, install  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "models" / "eval"
SR = {"task": "upscale", "scale": 2, "model": "esrgan-slim-x2"}
FAST = {"task": "restore", "model": "ffdnet-color-int8"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real cluster: two worker processes, one thread each, dashboard on a free port."""
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=40
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def _photos() -> list[np.ndarray]:
    return [
        np.asarray(Image.open(EVAL / f"{n}.png").convert("RGB")) for n in ("astronaut", "coffee", "chelsea")
    ]


def write_images(folder: Path, n: int = 8, side: int = 64) -> list[Path]:
    """``n`` different small crops of the evaluation photos as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = _photos()
    paths = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = 13 * i % (p.shape[0] - side), 29 * i % (p.shape[1] - side)
        path = folder / f"img{i:02d}.png"
        Image.fromarray(p[y : y + side, x : x + side - 8 * (i % 3)]).save(path)
        paths.append(path)
    return paths


def corrupt_png(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing valid
    return path


def test_eight_images_on_a_dask_cluster_equal_in_process_and_a_corrupt_file_is_reported(
    client: Any, tmp_path: Path
) -> None:
    paths = write_images(tmp_path / "in")
    sources: list[Any] = [*paths[:3], corrupt_png(tmp_path / "in" / "broken.png"), *paths[3:]]
    result = enhance_many(sources, **SR, executor=client.get_executor(), threads=1, progress=False)
    assert [it.index for it in result] == list(range(9))
    assert [it.status for it in result] == ["ok"] * 3 + ["failed"] + ["ok"] * 5
    bad = result[3]
    assert isinstance(bad.error, ImageDecodeError) and "corrupt" in str(bad.error)
    assert bad.source.endswith("broken.png") and result.failures == [bad]
    workers = {it.worker for it in result if it.ok}
    assert all(not w.endswith(f":{os.getpid()}") for w in workers)  # ran in the worker processes
    for path, item in zip(paths, [it for it in result if it.ok]):
        assert item.result is not None
        expected = enhance(path, **SR).array
        assert item.result.array.dtype == expected.dtype
        np.testing.assert_array_equal(item.result.array, expected)  # bit for bit
        assert item.result.record["model"]["sha256"] == catalog().get("esrgan-slim-x2").sha256
        assert item.result.image.size == (expected.shape[1], expected.shape[0])


def test_model_bytes_travel_to_the_workers_and_are_verified_there(client: Any, tmp_path: Path) -> None:
    card = catalog().get("esrgan-slim-x2")
    ref = ModelRef.of(card)
    good = read_verified(card)
    tampered = bytearray(good)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(ModelIntegrityError, match="damaged or was changed"):
        client.submit(install, ref, [bytes(tampered)], pure=False).result()
    cards = client.submit(install, ref, [good], pure=False).result()
    assert cards[0].path.name == f"{card.sha256}.onnx"  # the worker's own copy, named by its digest
    # a whole batch with send="bytes": images and model as bytes, outputs written here
    paths = write_images(tmp_path / "in", n=2)
    out = tmp_path / "out"
    result = enhance_many(
        paths, **SR, executor=client.get_executor(), send="bytes", output_dir=out, progress=False
    )
    assert [it.status for it in result] == ["ok", "ok"]
    for path, item in zip(paths, result):
        assert item.output == out / f"{path.stem}_upscalex2.png"
        written = np.asarray(Image.open(item.output))
        np.testing.assert_array_equal(written, enhance(path, **SR).array)
        assert item.record is not None and item.record["input"]["file"] == path.name


def test_the_default_pool_writes_files_and_one_records_file(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "in", n=3)
    sources: list[Any] = [*paths, tmp_path / "in" / "missing.png"]
    out = tmp_path / "out"
    result = enhance_many(sources, **FAST, workers=2, output_dir=out, progress=False)
    assert result.workers == 2 and [it.status for it in result] == ["ok", "ok", "ok", "failed"]
    assert isinstance(result[3].error, ImageDecodeError) and "no such image file" in str(result[3].error)
    lines = [json.loads(x) for x in (out / RECORDS_FILE).read_text().splitlines()]
    assert sorted(x["index"] for x in lines) == [0, 1, 2, 3]
    by_index = {x["index"]: x for x in lines}
    assert by_index[3]["error"]["type"] == "ImageDecodeError" and "record" not in by_index[3]
    for i, path in enumerate(paths):
        item = result[i]
        assert item.output is not None and item.output.name == f"{path.stem}_restore.png"
        np.testing.assert_array_equal(np.asarray(Image.open(item.output)), enhance(path, **FAST).array)
        assert by_index[i]["record"]["output"]["pixels_sha256"] == item.record["output"]["pixels_sha256"]


def _outputs(folder: Path) -> dict[str, int]:
    """Finished outputs (Result.save writes a hidden temporary file first) and their mtimes."""
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png") if not p.name.startswith(".")}


def test_a_batch_killed_half_way_resumes_with_the_verified_outputs_skipped(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "in", n=8, side=160)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "enhance_widget.cli", "batch", str(tmp_path / "in"), "-o", str(out)]
    cmd += ["--task", "upscale", "--scale", "2", "--model", "esrgan-slim-x2", "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    try:
        while not out.is_dir() or len(_outputs(out)) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the batch wrote nothing in 90 s"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its pool worker, mid-batch
        proc.wait()
    first = _outputs(out)
    assert 3 <= len(first) < 8, f"kill came too late to test anything: {sorted(first)}"
    # one finished output replaced by another image's output: its record no longer matches its input
    names = sorted(first)
    (out / names[0]).write_bytes((out / names[1]).read_bytes())
    del first[names[0]]
    time.sleep(0.02)  # mtimes of rewritten files must differ
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    done = 8 - len(first)
    assert f"{done} done, {len(first)} skipped (verified), 0 failed" in rerun.stdout
    second = _outputs(out)
    assert sorted(second) == sorted(output_names(paths, "upscale", 2))
    assert {n: second[n] for n in first} == first  # the verified outputs were not rewritten
    for path in paths:
        target = out / f"{path.stem}_upscalex2.png"
        np.testing.assert_array_equal(np.asarray(Image.open(target)), enhance(path, **SR).array)
    lines = [json.loads(x) for x in (out / RECORDS_FILE).read_text().splitlines()]
    assert sum(x["status"] == "skipped" for x in lines) == len(first)


def test_resume_check_rejects_other_options_and_damaged_files(tmp_path: Path) -> None:
    path = write_images(tmp_path, n=1)[0]
    result = enhance(path, **SR, tile=32, overlap=8)
    target = result.save(tmp_path / "out.png")
    opts = {"tile": 32, "overlap": 8, "controls": {}, "quality": "balanced", "tta": False}
    card = catalog().get("esrgan-slim-x2")
    model = {"id": card.id, "sha256": card.sha256, "passes": [{"id": card.id, "sha256": card.sha256}]}
    expect = {"task": "upscale", "scale": 2, "model": model, "options": opts}
    assert verified_record(target, expect, path, None) == result.record
    assert verified_record(target, {**expect, "options": {**opts, "overlap": 16}}, path, None) is None
    other = write_images(tmp_path / "other", n=2)[1]
    assert verified_record(target, expect, other, None) is None  # not this input's output
    data = bytearray(target.read_bytes())
    data[-40] ^= 0xFF  # inside the image data
    target.write_bytes(bytes(data))
    assert verified_record(target, expect, path, None) is None


def test_typed_errors_survive_the_trip_back_from_a_worker() -> None:
    info = pickle.loads(pickle.dumps(ErrorInfo.of(ImageTooLargeError(100, 10))))
    err = info.rebuild()
    assert isinstance(err, ImageTooLargeError) and (err.pixels, err.limit) == (100, 10)
    assert "more than the limit of 10" in str(err)


def test_output_names_keep_inputs_with_one_stem_apart(tmp_path: Path) -> None:
    names = output_names([tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "b.tif"], "upscale", 4)
    assert names == ["a-png_upscalex4.png", "a-jpg_upscalex4.png", "b_upscalex4.png"]
    assert output_names([np.zeros((2, 2))], "restore", None) == ["image-00000_restore.png"]
    twice = output_names([tmp_path / "a.png", tmp_path / "a.png"], "restore", None)
    assert twice == ["a-png_restore.png", "a-png-1_restore.png"]


def _zarr_input(path: Path, img: np.ndarray, chunks: tuple[int, ...]) -> Any:
    import dask

    with dask.config.set(scheduler="sync"):  # written here, not shipped to the cluster
        da.from_array(img, chunks=chunks).to_zarr(str(path))
    return da.from_zarr(str(path))


@pytest.mark.parametrize("grey", [False, True], ids=["rgb", "grey"])
def test_enhance_dask_upscale_with_uneven_chunks_equals_in_process(
    client: Any, tmp_path: Path, grey: bool
) -> None:
    img = _photos()[2][40:250, 10:243]  # 210 x 233: chunks of 96 x 100 leave ragged edges
    if grey:
        img = np.asarray(Image.fromarray(img).convert("L"))
    x = _zarr_input(tmp_path / "in.zarr", img, (96, 100) if grey else (96, 100, 3))
    y = enhance_dask(x, **SR, tile=64, overlap=12, threads=1)
    assert y.shape == ((420, 466) if grey else (420, 466, 3))
    assert y.chunks[:2] == ((192, 192, 36), (200, 200, 66))  # the input's chunks, scaled
    got = y.compute()
    expected = enhance(img, **SR, tile=64, overlap=12).array
    assert got.dtype == expected.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_enhance_dask_2048_in_512_chunks_matches_in_process_with_bounded_client_memory(
    client: Any, tmp_path: Path
) -> None:
    """The client (a separate process) builds the graph and writes to Zarr through the cluster;
    its resident memory may not grow by more than 8 MiB during the run, less than the 12 MiB
    output it never holds (the in-process engine needs about 100 MiB of float32 buffers)."""
    photo = _photos()[0]
    img = np.concatenate([np.concatenate([photo, photo[:, ::-1]], 1)] * 2, 0)
    img = np.tile(img, (4, 4, 1))[:2048, :2048].copy()
    assert img.shape == (2048, 2048, 3)
    src, dst = tmp_path / "in.zarr", tmp_path / "out.zarr"
    _zarr_input(src, img, (512, 512, 3))
    code = CLIENT_SCRIPT.format(addr=client.scheduler.address, src=src, dst=dst, model=FAST["model"])
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(p.stdout.splitlines()[-1])
    growth = max(report["peak_rss"] - report["base_rss"], report["after_maxrss"] - report["before_maxrss"])
    assert growth < 8 * 2**20, f"the client grew by {growth / 2**20:.1f} MiB"
    z = zarr.open_array(str(dst), mode="r")
    assert z.shape == (2048, 2048, 3) and z.chunks == (512, 512, 3)
    assert z.attrs[RECORD_ATTR]["model"]["id"] == FAST["model"]
    assert z.attrs[RECORD_ATTR]["plan"]["total_tiles"] == 81  # 9 x 9 tiles of 256, across chunks
    expected = enhance(img, **FAST, tile=256, overlap=16, threads=2).array
    diff = np.abs(z[...].astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1  # within 1/255
    print(f"enhance_dask vs in-process: max diff {diff.max()}, {np.count_nonzero(diff)} values differ")


CLIENT_SCRIPT = """
import json, os, resource, threading, time
import dask.array as da
from distributed import Client
from enhance_widget.dask_array import enhance_dask, to_zarr

page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
client = Client("{addr}")
y = enhance_dask(da.from_zarr("{src}"), "restore", model="{model}", tile=256, overlap=16, threads=1)
peak, stop = [0], threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
base, before = rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = threading.Thread(target=sample)
t.start()
to_zarr(y, "{dst}")
stop.set()
t.join()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
client.close()
print(json.dumps({{"base_rss": base, "peak_rss": peak[0], "before_maxrss": before, "after_maxrss": after}}))
"""


def test_enhance_dask_refuses_what_it_cannot_tile() -> None:
    with pytest.raises(UnsupportedImageError, match="alpha channel"):
        enhance_dask(da.zeros((64, 64, 4), dtype=np.uint8), **SR)
    with pytest.raises(UnsupportedImageError, match="int64"):
        enhance_dask(da.zeros((64, 64, 3), dtype=np.int64), **SR)
    with pytest.raises(EnhanceError, match="whole image"):
        enhance_dask(da.zeros((64, 64), dtype=np.uint8), "colorize")


def test_to_zarr_writes_chunk_by_chunk_with_the_record(tmp_path: Path) -> None:
    img = _photos()[1][:70, :90]
    y = enhance_dask(da.from_array(img, chunks=(32, 48, 3)), **FAST, tile=32, overlap=8, send="bytes")
    sha = catalog().get(FAST["model"]).sha256
    graph = dict(y.__dask_graph__())
    assert graph[f"enhance-model-{sha}"] == read_verified(catalog().get(FAST["model"]))  # once, by key
    z = to_zarr(y, tmp_path / "out.zarr")
    assert z.chunks == (32, 48, 3)
    np.testing.assert_array_equal(z[...], enhance(img, **FAST, tile=32, overlap=8).array)
    assert z.attrs[RECORD_ATTR]["engine"] == "dask"
    with pytest.raises(Exception, match="exist"):
        to_zarr(y, tmp_path / "out.zarr")  # never over an existing store unless overwrite=True


BLOCKED = """
import sys
for name in ("dask", "distributed", "zarr"):
    sys.modules[name] = None
import enhance_widget
from enhance_widget import enhance_many, enhance_dask
import enhance_widget.cli
print(enhance_many.__module__, enhance_dask.__module__)
"""


def test_the_package_imports_without_dask() -> None:
    p = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["enhance_widget.batch", "enhance_widget.dask_array"]


def test_the_cli_runs_a_folder_on_a_cluster_by_its_scheduler_address(client: Any, tmp_path: Path) -> None:
    paths = write_images(tmp_path / "in", n=3)
    corrupt_png(tmp_path / "in" / "zz-broken.png")
    cmd = [
        sys.executable,
        "-m",
        "enhance_widget.cli",
        "batch",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
    ]
    cmd += ["--task", "restore", "--model", FAST["model"], "--scheduler", client.scheduler.address, "--quiet"]
    p = subprocess.run([*cmd, "--send", "bytes"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr  # one input failed; the others are done
    assert "3 done, 0 skipped (verified), 1 failed" in p.stdout
    assert "zz-broken.png: ImageDecodeError" in p.stderr
    for path in paths:
        written = np.asarray(Image.open(tmp_path / "out" / f"{path.stem}_restore.png"))
        np.testing.assert_array_equal(written, enhance(path, **FAST).array)
