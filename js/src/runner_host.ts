// The view as the browser engine's host: the runner sends through the widget's comm, reads the
// source's bytes from the model, and each tile it finishes is painted as a kernel tile message;
// the kernel's engine messages go to it.

import type { AnyModel } from "@anywidget/types";
import { bytesOf, uid } from "./dom";
import { BrowserRunner } from "./engine/runner";
import type { State } from "./protocol";
import * as P from "./protocol";

/** A runner for this view; `onTile` gets each finished tile as a `tile` message. */
export function hostRunner(
  model: AnyModel<State>,
  onTile: (msg: P.TileMsg, buffers: DataView[]) => void,
): BrowserRunner {
  return new BrowserRunner(
    {
      send: (content, buffers) => model.send(content, undefined, buffers),
      source: () => {
        const bytes = bytesOf(model.get("source_bytes"));
        return bytes
          ? (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
          : null;
      },
      tile: (t) =>
        onTile(
          {
            kind: P.TILE,
            job: t.job,
            index: t.index,
            total: t.total,
            pass: t.pass,
            passes: t.passes,
            region: t.region,
            out_size: t.out_size,
            ms: t.ms,
          },
          [new DataView(t.rgba)],
        ),
    },
    uid("view"),
  );
}

/** Hand a browser-engine message from the kernel to `runner`; false for any other message. */
export function toRunner(runner: BrowserRunner, msg: P.KernelMsg, buffers: DataView[]): boolean {
  switch (msg.kind) {
    case P.ENGINE_RUN:
      void runner.onRun(msg);
      return true;
    case P.ENGINE_ASSETS:
      runner.onAssets(msg, buffers);
      return true;
    case P.ENGINE_CANCEL:
      runner.cancel(msg.job);
      return true;
  }
  return false;
}
