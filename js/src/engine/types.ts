// Messages between the widget's main thread and its engine worker.

export type Box = [number, number, number, number];

export interface EngineCard {
  id: string;
  sha256: string;
  scale: number;
  layout: "NHWC" | "NCHW";
  value_range: number;
  input_name: string;
  output_name: string | null;
  pad_mode: string;
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
      wasm: ArrayBuffer | null;
      models: Record<string, ArrayBuffer>;
    }
  | { type: "cancel"; job: number };

export type FromWorker =
  | {
      type: "tile";
      job: number;
      index: number;
      total: number;
      pass: number;
      passes: number;
      region: Box;
      out_size: [number, number];
      ms: number;
      rgba: ArrayBuffer;
    }
  | {
      type: "done";
      job: number;
      png: ArrayBuffer;
      provider: string;
      version: string;
      tile_ms: number[];
      pass_ms: number[];
      load_ms: number;
      out_size: [number, number];
    }
  | { type: "cancelled"; job: number; after_tiles: number }
  | { type: "error"; job: number; error: string; message: string };
