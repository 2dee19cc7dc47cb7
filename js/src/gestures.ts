// Input for the compare view: wheel and pinch zoom around the pointer, drag to pan, drag the
// split handle, and the keyboard (arrows pan, + and - zoom, 0 fits, 1 is 1:1; arrows move the split).

export interface Zoomable {
  readonly zoomLevel: number;
  readonly splitFraction: number;
  readonly pixelRatio: number;
  setZoom(z: number, ax?: number, ay?: number): void;
  zoomStep(direction: 1 | -1): void;
  panBy(dx: number, dy: number): void;
  setSplit(fraction: number): void;
  fit(): void;
}

type Point = { x: number; y: number };

export function bindGestures(
  view: Zoomable,
  stage: HTMLElement,
  handle: HTMLElement,
  main: HTMLCanvasElement,
): void {
  const pointers = new Map<number, Point>();
  let dragging: "pan" | "split" | null = null;
  let pinchDistance = 0;
  const pair = (): [Point, Point] | null => {
    const [a, b] = [...pointers.values()];
    return a && b ? [a, b] : null;
  };
  const distance = (): number => {
    const p = pair();
    return p ? Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) : 0;
  };
  /** Client coordinates -> device pixels in the canvas under the pointer. */
  const local = (clientX: number, clientY: number, target: EventTarget | null): [number, number] => {
    const canvas = target instanceof HTMLCanvasElement ? target : main;
    const r = canvas.getBoundingClientRect();
    return [(clientX - r.left) * view.pixelRatio, (clientY - r.top) * view.pixelRatio];
  };

  stage.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const [x, y] = local(e.clientX, e.clientY, e.target);
      // a trackpad pinch arrives as a wheel event with ctrlKey, in finer steps
      const k = e.ctrlKey ? 0.01 : 0.0015;
      const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      view.setZoom(view.zoomLevel * Math.exp(-delta * k), x, y);
    },
    { passive: false },
  );
  stage.addEventListener("pointerdown", (e) => {
    stage.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    dragging = e.target instanceof Node && handle.contains(e.target) ? "split" : "pan";
    if (pointers.size === 2) pinchDistance = distance();
  });
  stage.addEventListener("pointermove", (e) => {
    const prev = pointers.get(e.pointerId);
    if (!prev) return;
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    const p = pair();
    if (p) {
      const d = distance();
      if (pinchDistance > 0 && d > 0) {
        const [x, y] = local((p[0].x + p[1].x) / 2, (p[0].y + p[1].y) / 2, main);
        view.setZoom((view.zoomLevel * d) / pinchDistance, x, y);
      }
      pinchDistance = d;
    } else if (dragging === "split") {
      const r = stage.getBoundingClientRect();
      view.setSplit((e.clientX - r.left) / r.width);
    } else if (dragging === "pan") {
      const k = view.pixelRatio / view.zoomLevel;
      view.panBy(-(e.clientX - prev.x) * k, -(e.clientY - prev.y) * k);
    }
  });
  const end = (e: PointerEvent): void => {
    pointers.delete(e.pointerId);
    if (pointers.size === 0) dragging = null;
    pinchDistance = pointers.size === 2 ? distance() : 0;
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);

  handle.addEventListener("keydown", (e) => {
    const step = e.shiftKey ? 0.1 : 0.02;
    const moves: Record<string, number> = {
      ArrowLeft: -step,
      ArrowRight: step,
      ArrowDown: -step,
      ArrowUp: step,
    };
    const move = moves[e.key];
    if (move !== undefined) view.setSplit(view.splitFraction + move);
    else if (e.key === "Home") view.setSplit(0);
    else if (e.key === "End") view.setSplit(1);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  stage.addEventListener("keydown", (e) => {
    if (e.target !== stage) return;
    const pan = (40 * view.pixelRatio) / view.zoomLevel;
    const keys: Record<string, () => void> = {
      ArrowLeft: () => view.panBy(-pan, 0),
      ArrowRight: () => view.panBy(pan, 0),
      ArrowUp: () => view.panBy(0, -pan),
      ArrowDown: () => view.panBy(0, pan),
      "+": () => view.zoomStep(1),
      "=": () => view.zoomStep(1),
      "-": () => view.zoomStep(-1),
      "0": () => view.fit(),
      "1": () => view.setZoom(1),
    };
    const action = keys[e.key];
    if (!action) return;
    e.preventDefault();
    e.stopPropagation();
    action();
  });
}
