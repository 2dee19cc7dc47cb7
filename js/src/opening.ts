// Opening a photo in the view: the picker, a drop on the stage or a paste, and sending the file
// to the kernel in pieces (a Jupyter websocket message has a size limit).

import { h } from "./dom";
import * as P from "./protocol";

/** Opened files travel in pieces of this many bytes. */
const OPEN_PIECE = 4 * 1024 * 1024;
/** The largest file the view sends (the kernel refuses larger ones too). */
export const OPEN_MAX = 256 * 1024 * 1024;

/** A hidden file input (Open… clicks it) that calls `open` with the file chosen. */
export function filePicker(open: (file: File) => void): HTMLInputElement {
  const picker = h("input", {
    type: "file",
    accept: "image/*",
    class: "ew-picker",
    hidden: true,
    tabindex: -1,
  });
  picker.addEventListener("change", () => {
    const file = picker.files?.[0];
    if (file) open(file);
    picker.value = "";
  });
  return picker;
}

/** Call `open` with a file dropped on `stage` or pasted into `root`. */
export function bindFileDrop(stage: HTMLElement, root: HTMLElement, open: (file: File) => void): void {
  const hasFiles = (e: DragEvent): boolean => Array.from(e.dataTransfer?.types ?? []).includes("Files");
  stage.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.stopPropagation();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    stage.classList.add("ew-drop");
  });
  stage.addEventListener("dragleave", () => stage.classList.remove("ew-drop"));
  stage.addEventListener("drop", (e) => {
    stage.classList.remove("ew-drop");
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    e.stopPropagation();
    open(file);
  });
  root.addEventListener("paste", (e) => {
    const items = Array.from(e.clipboardData?.files ?? []);
    const file = items.find((f) => f.type.startsWith("image/")) ?? items[0];
    if (!file) return;
    e.preventDefault();
    e.stopPropagation();
    open(file);
  });
}

/** The file's name, or `pasted.<type>` for a pasted image that has none. */
export function openedName(file: File): string {
  return file.name || `pasted.${(file.type.split("/")[1] ?? "png").replace("jpeg", "jpg")}`;
}

/** Send `file` to the kernel as `open` messages of request `id`, one piece each. */
export async function sendFile(
  send: (content: Record<string, unknown>, buffers: ArrayBuffer[]) => void,
  id: string,
  name: string,
  file: File,
): Promise<void> {
  for (let offset = 0; offset < file.size || offset === 0; offset += OPEN_PIECE) {
    const piece = await file.slice(offset, offset + OPEN_PIECE).arrayBuffer();
    send({ kind: P.OPEN, id, name, offset, size: file.size }, [piece]);
    if (file.size === 0) break;
  }
}
