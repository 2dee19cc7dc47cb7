// The compare view's controls: the split handle on the stage, and the toolbar with the mode
// buttons (slider, side by side, difference) and the zoom buttons (out, level, in, 1:1, fit, pixels).

import { h } from "./dom";

export type Mode = "slider" | "side" | "diff";

/** What the toolbar's buttons act on. */
export interface ViewbarTarget {
  setMode(mode: Mode): void;
  zoomStep(direction: 1 | -1): void;
  setZoom(z: number): void;
  fit(): void;
}

/** The toolbar and the parts of it the view updates. */
export interface Viewbar {
  element: HTMLElement;
  zoomLabel: HTMLElement;
  /** Each mode's button (its pressed state follows the mode). */
  modeButtons: Map<Mode, HTMLButtonElement>;
}

/** The toolbar; `onPixels` hears the "Pixels" toggle (square pixels, no smoothing). */
export function buildViewbar(view: ViewbarTarget, onPixels: (on: boolean) => void): Viewbar {
  const zoomLabel = h("span", { class: "ew-zoom-label", "aria-label": "Zoom level", text: "fit" });
  const pixels = h("button", {
    type: "button",
    class: "ew-btn",
    "aria-pressed": "false",
    title: "Show each pixel as a square (no smoothing); always so from 200% zoom",
    text: "Pixels",
  });
  let on = false;
  pixels.addEventListener("click", () => {
    on = !on;
    pixels.setAttribute("aria-pressed", String(on));
    onPixels(on);
  });
  const modeButtons = new Map<Mode, HTMLButtonElement>();
  const modes: [Mode, string, string][] = [
    ["slider", "Slider", "Before on the left of the split, after on the right"],
    ["side", "Side by side", "Before and after next to each other, zoomed and panned together"],
    ["diff", "Difference", "What changed: the difference, brightened so the largest change is white"],
  ];
  const modeGroup = h("div", { class: "ew-group", role: "group", "aria-label": "Compare mode" });
  for (const [mode, label, title] of modes) {
    const b = h("button", { type: "button", class: "ew-btn", "aria-pressed": "false", title, text: label });
    b.addEventListener("click", () => view.setMode(mode));
    modeButtons.set(mode, b);
    modeGroup.append(b);
  }
  const button = (label: string, title: string, action: () => void): HTMLButtonElement => {
    const b = h("button", { type: "button", class: "ew-btn", title, "aria-label": title, text: label });
    b.addEventListener("click", action);
    return b;
  };
  const zoomGroup = h("div", { class: "ew-group", role: "group", "aria-label": "Zoom" }, [
    button("−", "Zoom out", () => view.zoomStep(-1)),
    zoomLabel,
    button("+", "Zoom in", () => view.zoomStep(1)),
    button("1:1", "Actual pixels (1:1)", () => view.setZoom(1)),
    button("Fit", "Fit to view", () => view.fit()),
    pixels,
  ]);
  return { element: h("div", { class: "ew-viewbar" }, [modeGroup, zoomGroup]), zoomLabel, modeButtons };
}

/** The slider mode's split handle (dragged or moved with the arrow keys: gestures.ts). */
export function splitHandle(): HTMLElement {
  return h(
    "div",
    {
      class: "ew-split",
      role: "slider",
      tabindex: 0,
      "aria-label": "Before/after split",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": 50,
      title: "Drag, or use the arrow keys, to move the split",
    },
    [h("span", { class: "ew-grip", "aria-hidden": "true", text: "◀ ▶" })],
  );
}
