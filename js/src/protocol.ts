// Message kinds between the kernel and the front end. Keep in sync with
// src/enhance_widget/widget/protocol.py (tests/test_widget_protocol.py checks it).

import type { EngineCard, ImageKind, PlanSpec, ProviderChoice } from "./engine/types";
import type { Box, Size, TileFields } from "./shapes";

export type { Box, Size };

// front end -> kernel
export const RUN = "run";
export const CANCEL = "cancel";
export const SAVE = "save";
export const HELLO = "hello";
export const USE_TILE = "use-tile";
export const OPEN = "open";
export const ENGINE_NEED = "engine-need";
export const ENGINE_TILE = "engine-tile";
export const ENGINE_DONE = "engine-done";
export const ENGINE_CANCELLED = "engine-cancelled";
export const ENGINE_ERROR = "engine-error";

// kernel -> front end
export const RUN_STARTED = "run-started";
export const TILE = "tile";
export const RUN_DONE = "run-done";
export const RUN_ERROR = "run-error";
export const RUN_CANCELLED = "run-cancelled";
export const REJECTED = "rejected";
export const SAVED = "saved";
export const ENGINE_RUN = "engine-run";
export const ENGINE_ASSETS = "engine-assets";
export const ENGINE_CANCEL = "engine-cancel";

export const TO_KERNEL = [
  RUN,
  CANCEL,
  SAVE,
  HELLO,
  USE_TILE,
  OPEN,
  ENGINE_NEED,
  ENGINE_TILE,
  ENGINE_DONE,
  ENGINE_CANCELLED,
  ENGINE_ERROR,
] as const;
export const TO_FRONTEND = [
  RUN_STARTED,
  TILE,
  RUN_DONE,
  RUN_ERROR,
  RUN_CANCELLED,
  REJECTED,
  SAVED,
  ENGINE_RUN,
  ENGINE_ASSETS,
  ENGINE_CANCEL,
] as const;

export interface PassGrid {
  out_size: Size;
  cores: Box[];
}

export interface RunStartedMsg {
  kind: typeof RUN_STARTED;
  id: string | null;
  job: number;
  total: number;
  out_size: Size;
  passes: PassGrid[];
}

/** One finished tile; its pixels are one RGBA buffer of w*h*4 bytes (region in pass output px). */
export interface TileMsg extends TileFields {
  kind: typeof TILE;
}

export interface RunDoneMsg {
  kind: typeof RUN_DONE;
  id: string | null;
  job: number;
  record: Record<string, unknown>;
}

export interface RunErrorMsg {
  kind: typeof RUN_ERROR;
  id: string | null;
  job: number | null;
  type: string;
  message: string;
}

export interface RunCancelledMsg {
  kind: typeof RUN_CANCELLED;
  id: string | null;
  job: number;
  after_tiles: number;
}

export interface RejectedMsg {
  kind: typeof REJECTED;
  id: string | null;
  request: string;
  reason: string;
}

export interface SavedMsg {
  kind: typeof SAVED;
  id: string | null;
  path: string;
  /** this result was saved to `path` before (no second copy) */
  again?: boolean;
  job?: number | null;
}

/** Browser engine: run this plan in the page (see js/src/engine/). */
export interface EngineRunMsg {
  kind: typeof ENGINE_RUN;
  job: number;
  plan: PlanSpec;
  cards: EngineCard[];
  image: ImageKind;
  tta: boolean;
  provider: ProviderChoice;
}

/**
 * A piece of the assets a view asked for ("worker", "wasm", "wasm-webgpu" or a model's sha256):
 * one buffer, the bytes at `offset` of asset `name` (`size` bytes in all, at most 1 MiB a piece);
 * `names` lists every asset of the answer; where it is empty (the page lacks nothing) the message
 * has no buffer and no `name`.
 */
export interface EngineAssetsMsg {
  kind: typeof ENGINE_ASSETS;
  job: number;
  view: string;
  names: string[];
  name?: string;
  offset?: number;
  size?: number;
  /** a model the JupyterLite site serves: fetched by the page from this address (relative to the
   * site's root) instead of arriving as message bytes */
  url?: string;
}

export interface EngineCancelMsg {
  kind: typeof ENGINE_CANCEL;
  job: number;
}

export type KernelMsg =
  | EngineRunMsg
  | EngineAssetsMsg
  | EngineCancelMsg
  | RunStartedMsg
  | TileMsg
  | RunDoneMsg
  | RunErrorMsg
  | RunCancelledMsg
  | RejectedMsg
  | SavedMsg;

export interface ModelInfo {
  id: string;
  title: string;
  task: string;
  scale: number;
  license: string;
  /** the manifest's whole licence text (the short one above stops at the first clause) */
  license_full?: string;
  /** the licence limits the model to research / non-commercial use */
  research_only?: boolean;
  user: boolean;
  installed: boolean;
  install_hint: string | null;
  size_mb: number;
  s_per_mpx: number;
}

export interface QualityInfo {
  id: string;
  model: string | null;
  tta: boolean;
  vs_parent: Record<string, number>;
}

export interface TaskInfo {
  id: string;
  title: string;
  summary?: string;
  available: boolean;
  install_hint?: string | null;
}

/** A model control (e.g. restore's strength), as the manifest states it. */
export interface ControlSpec {
  name: string;
  label: string;
  min: number;
  max: number;
  default: number;
  step: number;
  help?: string;
}

export interface PlanFigures {
  error?: { type: string; message: string };
  task?: string;
  model?: string;
  scale?: number;
  in_size?: Size;
  out_size?: Size;
  strategy?: string;
  overlap?: number;
  total_tiles?: number;
  passes?: { tile: Size; grid: Size; tiles: number; out_size: Size }[];
  memory_bytes?: number;
  budget_bytes?: number;
  available_bytes?: number | null;
  seconds?: number;
  seconds_planned?: number;
  calibrated?: boolean;
  memory_level?: "fine" | "tight" | "too much";
  fits?: boolean;
  quality?: string;
  tta?: boolean;
  runtime?: string;
  provider?: string;
  suggested_tile?: number | null;
}

export interface Progress {
  job?: number;
  done?: number;
  total?: number;
  elapsed_s?: number;
  tile_s?: number | null;
  eta_s?: number | null;
  measured?: boolean;
}

export interface LastRun {
  job?: number;
  engine?: string;
  model?: string;
  provider?: string;
  runtime?: string;
  total_ms?: number;
  load_ms?: number;
  tiles?: number;
  out_size?: Size;
  task?: string;
  scale?: number | null;
  estimate_s?: number | null;
  measured_s?: number;
}

/** The synced traits (see src/enhance_widget/widget/state.py). */
export interface State {
  task: string;
  model: string;
  scale: number;
  tile: string;
  overlap: number;
  quality: string;
  engine: string;
  source_name: string;
  source_bytes: DataView | ArrayBuffer | null;
  source_size: number[];
  source_colour: boolean;
  controls: Record<string, number>;
  control_specs: ControlSpec[];
  result_png: DataView | ArrayBuffer | null;
  models: ModelInfo[];
  qualities: QualityInfo[];
  tasks: TaskInfo[];
  plan: PlanFigures;
  status: string;
  progress: Progress;
  error: { type?: string; message?: string; during?: string; name?: string };
  last_run: LastRun;
  saved_path: string;
}

export const CONTROLS = ["task", "model", "scale", "tile", "overlap", "quality"] as const;
export type Control = (typeof CONTROLS)[number];
