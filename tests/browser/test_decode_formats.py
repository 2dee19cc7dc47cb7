"""The browser engine's decoder (js/src/engine/png.ts `decode`, bundled as it ships) in Debian's
Chromium against the kernel engine's (Pillow, `images.load_image`) on the same bytes: JPEG (with
EXIF orientation, grey, 4:2:0 and 4:4:4), PNG (8/16-bit, alpha, palette), WebP, GIF (first frame),
BMP; every other format a typed error naming it.

Measured (Chromium 156, Pillow): every case decodes to identical pixels (0/255: both use
libjpeg-turbo's default IDCT and fancy upsampling, and libwebp), except a translucent WebP, whose
colour Chromium's decoder premultiplies: within 1/255 where alpha >= 128, up to 127/255 where alpha
is near 0. The widget (kernel side) therefore sends such a WebP to the page as PNG."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from enhance_widget.images import load_image

from .lab import CHROMIUM, CHROMIUM_ARGS, REPO, NetworkLog, require_browser

pytestmark = [pytest.mark.browser]

RNG = np.random.default_rng(3)


def _photo() -> Image.Image:
    """A real photo crop (smooth areas and edges: what JPEG rounding differences show on)."""
    return Image.open(REPO / "models" / "eval" / "coffee.png").convert("RGB").crop((20, 30, 117, 101))


def _enc(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def _cases() -> dict[str, tuple[bytes, int]]:
    """name -> (bytes, largest allowed difference in 1/255 where alpha >= 128).

    Where alpha < 128 Chromium's WebP decoder loses colour precision (it premultiplies), so a
    translucent WebP is compared where alpha >= 128 (within 1/255 there) and its fully
    transparent pixels not at all; in the kernel, the widget sends such a WebP as PNG."""
    rgb = _photo()
    w, h = rgb.size
    alpha = Image.fromarray(RNG.integers(0, 256, (h, w), dtype=np.uint8))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    pal = rgb.quantize(64)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif8 = Image.Exif()
    exif8[0x0112] = 8
    return {
        "jpeg-420": (_enc(rgb, "JPEG", quality=85), 1),
        "jpeg-444": (_enc(rgb, "JPEG", quality=95, subsampling=0), 1),
        "jpeg-grey": (_enc(rgb.convert("L"), "JPEG", quality=90), 1),
        "jpeg-exif6": (_enc(rgb, "JPEG", quality=90, exif=exif.tobytes()), 1),
        "jpeg-exif8": (_enc(rgb, "JPEG", quality=90, exif=exif8.tobytes()), 1),
        "png-rgb": (_enc(rgb, "PNG"), 0),
        "png-rgba": (_enc(rgba, "PNG"), 0),
        "png-palette-trns": (_enc(pal, "PNG", transparency=5), 0),
        "png-16bit-grey": (_enc(Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257), "PNG"), 0),
        "webp-lossless-alpha": (_enc(rgba, "WEBP", lossless=True, exact=True), 0),
        "webp-lossy": (_enc(rgb, "WEBP", quality=80), 1),
        "gif-first-frame": (_enc(pal, "GIF", save_all=True, append_images=[rgb.rotate(180).quantize(16)]), 0),
        "gif-transparent": (_enc(pal, "GIF", transparency=5), 0),
        "bmp": (_enc(rgb, "BMP"), 0),
    }


@pytest.fixture(scope="module")
def decoder_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_browser()
    esbuild = REPO / "js" / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists() or shutil.which("node") is None:
        pytest.skip("js/node_modules (esbuild) is needed")
    root = tmp_path_factory.mktemp("decoder")
    subprocess.run(
        [
            str(esbuild),
            str(REPO / "js" / "src" / "engine" / "png.ts"),
            "--bundle",
            "--format=esm",
            "--outdir=" + str(root),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (root / "index.html").write_text("<!doctype html><title>decode</title>")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    from playwright.sync_api import sync_playwright

    net = NetworkLog(allowed_prefixes=(base + "/",))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context()
            ctx.route("**/*", net.route)
            pg = ctx.new_page()
            pg.goto(base + "/index.html")
            yield pg
            assert net.outside == [], net.outside
        finally:
            browser.close()
            server.shutdown()


DECODE_JS = """async (b64) => {
  const { decode } = await import('./png.js');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    const d = await decode(bytes.buffer);
    const px = new Uint8Array(d.w * d.h * 4);
    for (let i = 0; i < d.w * d.h; i++) {
      for (let c = 0; c < 3; c++) px[i * 4 + c] = Math.round(d.rgb[i * 3 + c] * 255);
      px[i * 4 + 3] = Math.round(d.alpha[i] * 255);
    }
    let s = '';
    for (let i = 0; i < px.length; i += 8192) s += String.fromCharCode(...px.subarray(i, i + 8192));
    return { w: d.w, h: d.h, px: btoa(s) };
  } catch (e) {
    return { error: e.name, message: e.message };
  }
}"""


def _browser_decode(pg: Any, data: bytes) -> dict[str, Any]:
    got: dict[str, Any] = pg.evaluate(DECODE_JS, base64.b64encode(data).decode())
    return got


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_browser_decoder_matches_the_kernel_decoder(decoder_page: Any, name: str) -> None:
    data, tolerance = CASES[name]
    got = _browser_decode(decoder_page, data)
    assert "error" not in got, got
    buf = load_image(data)
    assert (got["w"], got["h"]) == buf.size, name  # EXIF orientation applied in both
    page = np.frombuffer(base64.b64decode(got["px"]), np.uint8).reshape(got["h"], got["w"], 4).astype(int)
    ref = np.rint(buf.rgb * 255).astype(int)
    seen = page[..., 3] >= 128
    diff = int(np.abs(page[..., :3] - ref)[seen].max(initial=0))
    alpha_ref = np.full(ref.shape[:2], 255) if buf.alpha is None else np.rint(buf.alpha * 255).astype(int)
    alpha_diff = int(np.abs(page[..., 3] - alpha_ref).max())
    a = page[..., 3]
    by_alpha = {lo: int(np.abs(page[..., :3] - ref)[a >= lo].max(initial=0)) for lo in (1, 32, 128, 255)}
    print(f"\n{name}: {got['w']}x{got['h']} max diff {diff}/255, alpha {alpha_diff}/255, by alpha {by_alpha}")
    assert diff <= max(tolerance, 1 if name.startswith("webp") else 0), (name, diff)
    if not name.startswith("webp"):  # the browser's own decoder keeps colour under any alpha
        assert by_alpha[1] <= tolerance, (name, by_alpha)
    assert alpha_diff == 0, (name, alpha_diff)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(_enc(_photo(), "TIFF"), "TIFF"), (b"\x00\x00\x00\x1cftypavif" + bytes(64), "AVIF")],
)
def test_other_formats_are_a_typed_error_naming_them(decoder_page: Any, data: bytes, fmt: str) -> None:
    got = _browser_decode(decoder_page, data)
    assert got.get("error") == "UnsupportedImageError", got
    assert got["message"].startswith(f"{fmt} images cannot be opened by the browser engine"), got
