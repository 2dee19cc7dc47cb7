// Bundle src/index.ts (and the CSS it imports) into ../src/enhance_widget/static/widget.{js,css}.
// The browser engine's worker (src/engine/worker.ts, with onnxruntime-web) is bundled into
// engine-worker.js and onnxruntime-web's two .wasm builds (WASM, WebGPU) copied next to it, as package data: Python sends
// both as bytes to the page, which starts the worker from a Blob URL (never a URL or a CDN).
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const outdir = "../src/enhance_widget/static";
const DIST = "node_modules/onnxruntime-web/dist";
// the plain WASM build, and the WebGPU build (asyncify) that `onnxruntime-web/webgpu` loads
const WASM = ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.asyncify.wasm"];

async function workerCode() {
  const out = await esbuild.build({
    entryPoints: ["src/engine/worker.ts"],
    bundle: true,
    format: "esm",
    target: ["es2022"],
    minify: true,
    write: false,
    legalComments: "none",
    logLevel: "warning",
  });
  return out.outputFiles[0].text;
}

const options = {
  entryPoints: { widget: "src/index.ts" },
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  outdir,
  logLevel: "info",
  legalComments: "none",
};

mkdirSync(outdir, { recursive: true });
for (const name of WASM) copyFileSync(`${DIST}/${name}`, `${outdir}/${name}`);
writeFileSync(`${outdir}/engine-worker.js`, await workerCode());
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
