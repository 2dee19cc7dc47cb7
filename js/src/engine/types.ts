// Messages between the widget's main thread and its engine worker.

import type { Box, TileFields } from "../shapes";

export type { Box };

export interface EngineCard {
  id: string;
  sha256: string;
  scale: number;
  layout: "NHWC" | "NCHW";
  value_range: number;
  input_name: string;
  output_name: string | null;
  pad_mode: string;
  /** Non-image inputs (FFDNet's sigma): a constant tensor of `shape` filled with `value`. */
  extra: { name: string; value: number; shape: number[] }[];
  /**
   * "tiled": image to image, tile by tile; "global-lab": colorize, one whole-image call on the
   * CIELab L at the plan's working size (the tile's `padded`), a/b predicted (engine.py
   * `run_global_lab`).
   */
  pipeline: "tiled" | "global-lab";
  /** The "strength" control of a global-lab pass (0..1.5, scales the predicted a/b); 1 otherwise. */
  strength: number;
}

/** "auto": WebGPU when the browser has an adapter, else WASM. */
export type ProviderChoice = "auto" | "webgpu" | "wasm";

/** How the result is written, as the kernel engine does: grey in, grey out; alpha kept apart. */
export interface ImageKind {
  gray: boolean;
  alpha: boolean;
}

export interface TileSpec {
  index: number;
  in_box: Box;
  out_box: Box;
  core_box: Box;
  padded: [number, number];
  bands: Box;
}

export interface PassSpec {
  pass_index: number;
  model_id: string;
  scale: number;
  in_size: [number, number];
  out_size: [number, number];
  tiles: TileSpec[];
}

export interface PlanSpec {
  in_size: [number, number];
  out_size: [number, number];
  total_tiles: number;
  passes: PassSpec[];
}

export type ToWorker =
  | {
      type: "run";
      job: number;
      plan: PlanSpec;
      cards: EngineCard[];
      source: ArrayBuffer;
      image: ImageKind;
      tta: boolean;
      provider: ProviderChoice;
      /** Binaries and models come as the pieces they arrived in from Python (the worker joins
       * them), each only the first time; the worker keeps them. */
      wasm: ArrayBuffer[] | null;
      /** onnxruntime-web's WebGPU build (asyncify); sent only where the page has an adapter. */
      wasm_webgpu: ArrayBuffer[] | null;
      /** models not sent before, by sha256 (the worker checks their sha256 and keeps them) */
      models: Record<string, ArrayBuffer[]>;
    }
  | { type: "cancel"; job: number };

export type FromWorker =
  | (TileFields & { type: "tile"; rgba: ArrayBuffer })
  | {
      type: "done";
      job: number;
      png: ArrayBuffer;
      /** the PNG's mode: "RGB", "RGBA", "L" or "LA" */
      mode: string;
      provider: string;
      /** why the provider is not the one asked for ("" when it is) */
      provider_note: string;
      version: string;
      tile_ms: number[];
      pass_ms: number[];
      load_ms: number;
      out_size: [number, number];
      /** sha256 of the decoded input (HxWx3 float32, 0..1) and of the written pixels (HxWxC
       * uint8), as the kernel engine's record hashes them (provenance `pixels_sha256`) */
      input_sha256: string;
      output_sha256: string;
    }
  | { type: "cancelled"; job: number; after_tiles: number }
  | { type: "error"; job: number; error: string; message: string };
