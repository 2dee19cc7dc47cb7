"""Browser engine vs kernel engine vs UpscalerJS-style per-tile execution (not a test).

Same model, image and plan. In one headless Chromium page (served from a fake 127.0.0.1 origin by
Playwright; nothing else is reachable):
- browser engine: the widget's own worker (static/engine-worker.js: decode, tile, run, blend,
  encode in a Web Worker, onnxruntime-web WASM, one thread);
- with ``--webgpu``: the same worker on WebGPU (Chromium started with ``--enable-unsafe-webgpu``;
  without a GPU that is SwiftShader, a CPU emulation of one: far slower than WASM);
- UpscalerJS-style: one ``session.run`` per tile on the main thread, 0..255 input as UpscalerJS
  feeds it, no blending (tiles cropped and pasted);
and in this process, the kernel engine (``enhance``, onnxruntime CPU).

    .venv/bin/python benchmarks/browser_engine.py [--model span-x2] [--tile 64] [--scale 2]
        [--webgpu]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "enhance_widget" / "static"
ORT_MJS = ROOT / "js" / "node_modules" / "onnxruntime-web" / "dist" / "ort.wasm.bundle.min.mjs"
ORIGIN = "http://127.0.0.1:9/"  # never contacted: every request is answered by the route below

PAGE_JS = """
async ({ plan, cards, tiles, webgpu }) => {
  const get = async (p) => (await fetch(p)).arrayBuffer();
  const [source, wasm, model] = await Promise.all([get("sample.png"), get("ort.wasm"), get("model.onnx")]);
  const stall = { max: 0, last: performance.now() };
  const tick = setInterval(() => {
    const t = performance.now();
    stall.max = Math.max(stall.max, t - stall.last);
    stall.last = t;
  }, 10);
  const reset = () => { stall.max = 0; stall.last = performance.now(); };
  // 1. the browser engine's worker (WASM; then WebGPU when asked for)
  const runEngine = async (provider, bins) => {
    reset();
    const w = new Worker("engine-worker.js", { type: "module" });
    const t0 = performance.now();
    const done = await new Promise((resolve, reject) => {
      w.onmessage = (e) => {
        if (e.data.type === "done") resolve(e.data);
        else if (e.data.type === "error") reject(new Error(e.data.message));
      };
      const models = { [cards[0].sha256]: model.slice(0) };
      const image = { gray: false, alpha: false };
      w.postMessage({ type: "run", job: 1, plan, cards, source: source.slice(0), image, tta: false, provider,
                      ...bins, models });
    });
    w.terminate();
    return { ms: performance.now() - t0, stall: stall.max, tile_ms: done.tile_ms, load_ms: done.load_ms,
             provider: done.provider, note: done.provider_note };
  };
  const engine = await runEngine("wasm", { wasm: wasm.slice(0), wasm_webgpu: null });
  const gpuBins = webgpu ? { wasm: null, wasm_webgpu: await get("ort-webgpu.wasm") } : null;
  const gpu = gpuBins ? await runEngine("webgpu", gpuBins) : null;
  // 2. UpscalerJS-style: main thread, one session.run per tile, 0..255 input
  const ort = await import("./ort.mjs");
  ort.env.wasm.wasmBinary = wasm;
  ort.env.wasm.numThreads = 1;
  reset();
  const t1 = performance.now();
  const sess = await ort.InferenceSession.create(new Uint8Array(model), { executionProviders: ["wasm"] });
  const load = performance.now() - t1;
  const bmp = await createImageBitmap(new Blob([source]));
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext("2d");
  ctx.drawImage(bmp, 0, 0);
  const tileMs = [];
  for (const t of tiles) {
    const [x0, y0, x1, y1] = t.in_box; const [pw, ph] = t.padded;
    const px = ctx.getImageData(x0, y0, pw, ph).data;  // padding: whatever lies beyond, as UpscalerJS pads
    const x = new Float32Array(pw * ph * 3);
    for (let i = 0, j = 0; i < px.length; i += 4, j += 3) {
      x[j] = px[i]; x[j + 1] = px[i + 1]; x[j + 2] = px[i + 2];
    }
    const s = performance.now();
    const out = await sess.run({ [cards[0].input_name]: new ort.Tensor("float32", x, [1, ph, pw, 3]) });
    tileMs.push(performance.now() - s);
    for (const v of Object.values(out)) v.dispose();
    await new Promise((r) => setTimeout(r, 0));
  }
  const perTile = { ms: performance.now() - t1, stall: stall.max, load_ms: load, tile_ms: tileMs };
  clearInterval(tick);
  return { engine, gpu, perTile };
}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="span-x2")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--webgpu", action="store_true", help="also run the browser engine on WebGPU")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from enhance_widget import enhance
    from enhance_widget.catalog import catalog, read_verified, sample_image_path
    from enhance_widget.widget.browser import engine_card, plan_for

    sample = sample_image_path()
    from PIL import Image

    with Image.open(sample) as im:
        size = im.size
    plan = plan_for(size, "upscale", args.scale, args.model, args.tile, 16)
    cards = catalog().resolve_chain(catalog().get(plan.model_id))
    if len(cards) != 1:
        raise SystemExit("pick a single-pass model for this benchmark")
    files: dict[str, bytes] = {
        "sample.png": sample.read_bytes(),
        "ort.wasm": (STATIC / "ort-wasm-simd-threaded.wasm").read_bytes(),
        "ort-webgpu.wasm": (STATIC / "ort-wasm-simd-threaded.asyncify.wasm").read_bytes(),
        "model.onnx": read_verified(cards[0]),
        "engine-worker.js": (STATIC / "engine-worker.js").read_bytes(),
        "ort.mjs": ORT_MJS.read_bytes(),
        "index.html": b"<!doctype html><title>bench</title>",
    }
    outside: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        name = url[len(ORIGIN) :] if url.startswith(ORIGIN) else None
        if name in files:
            ctype = "text/javascript" if name.endswith("js") else "application/octet-stream"
            ctype = "text/html" if name.endswith(".html") else ctype
            r.fulfill(status=200, body=files[name], headers={"content-type": ctype})
        else:
            outside.append(url)
            r.abort()

    t0 = time.perf_counter()
    kernel = enhance(sample, scale=args.scale, model=args.model, tile=args.tile, overlap=16)
    kernel_ms = (time.perf_counter() - t0) * 1000
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("ENHANCE_WIDGET_CHROMIUM", "/usr/bin/chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
            + (["--enable-unsafe-webgpu"] if args.webgpu else []),
        )
        page = browser.new_page()
        page.route("**/*", route)
        page.goto(ORIGIN + "index.html")
        res = page.evaluate(
            PAGE_JS,
            {
                "plan": plan.to_dict(),
                "cards": [engine_card(cards[0])],
                "tiles": plan.to_dict()["passes"][0]["tiles"],
                "webgpu": args.webgpu,
            },
        )
        browser.close()
    eng, gpu, per = res["engine"], res["gpu"], res["perTile"]
    k_tiles = kernel.record["tile_ms"]
    print(
        f"model {args.model}, {size[0]}x{size[1]} x{args.scale}, tile {args.tile}: {plan.total_tiles} tiles; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    rows = [
        ("kernel engine (onnxruntime CPU)", kernel_ms, sum(k_tiles), None),
        ("browser engine (worker, wasm)", eng["ms"], sum(eng["tile_ms"]), eng["stall"]),
        ("UpscalerJS-style (main thread)", per["ms"], sum(per["tile_ms"]), per["stall"]),
    ]
    if gpu is not None:
        name = f"browser engine (worker, {gpu['provider']})"
        rows.insert(2, (name, gpu["ms"], sum(gpu["tile_ms"]), gpu["stall"]))
        if gpu["note"]:
            print(f"webgpu run: {gpu['note']}")
    for name, total, model_ms, stall in rows:
        st = f"{stall:7.0f} ms" if stall is not None else "      -   "
        print(f"{name:<34} total {total:8.0f} ms  model {model_ms:8.0f} ms  longest stall {st}")
    print(
        f"ratios: browser/kernel {eng['ms'] / kernel_ms:.2f}, "
        f"UpscalerJS-style/browser {per['ms'] / eng['ms']:.2f}, "
        f"stall UpscalerJS-style/browser {per['stall'] / max(eng['stall'], 1):.1f}"
    )
    print(json.dumps({"outside_requests": outside}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
