// Geometry and tile-report fields shared by the wire protocol (protocol.ts) and the engine worker's
// messages (engine/types.ts); kept apart so that neither of those imports the other.

/** x0, y0, x1, y1 in pixels */
export type Box = [number, number, number, number];
/** width, height in pixels */
export type Size = [number, number];

/** What every finished-tile report carries, from the kernel engine or the browser engine. */
export interface TileFields {
  job: number;
  index: number;
  total: number;
  pass: number;
  passes: number;
  region: Box;
  out_size: Size;
  ms: number;
}
