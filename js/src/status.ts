// One state machine behind the status line and the buttons: every screen state is one phase,
// derived from the traits plus the requests this view has in flight, so the line, Run, Cancel,
// Save and Download can never disagree.

import type { LastRun, PlanFigures, Progress, SavedMsg, State, TaskInfo } from "./protocol";

export type Phase =
  | "empty" // no photo yet
  | "idle" // a photo and a plan: Run can act
  | "planning" // a photo is being opened, or the plan is being worked out
  | "starting" // Run was pressed; the kernel has not answered yet
  | "running"
  | "cancelling"
  | "done"
  | "cancelled"
  | "failed" // the run failed, or no plan can be made with these settings
  | "no-model"; // the task's model is not installed here

/** What the view knows besides the traits. */
export interface Pending {
  run: boolean;
  open: string | null; // the name of a file being sent
  plan: boolean; // a control was changed; its plan has not arrived
}

export interface Inputs {
  status: string;
  hasImage: boolean;
  hasResult: boolean;
  plan: PlanFigures;
  pending: Pending;
}

export function phaseOf(i: Inputs): Phase {
  if (i.status === "running") return "running";
  if (i.status === "cancelling") return "cancelling";
  if (i.pending.run) return "starting";
  if (i.pending.open !== null || (i.pending.plan && i.hasImage)) return "planning";
  if (!i.hasImage) return "empty";
  if (i.plan.error?.type === "ModelNotFoundError") return "no-model";
  if (i.status === "error") return "failed";
  if (i.plan.error) return "failed";
  if (i.status === "done" && i.hasResult) return "done";
  if (i.status === "cancelled") return "cancelled";
  return "idle";
}

/** What each phase lets the user do. */
export function abilities(
  phase: Phase,
  hasResult: boolean,
  planError: boolean,
): { run: boolean; cancel: boolean; keep: boolean; open: boolean } {
  const busy = phase === "starting" || phase === "running" || phase === "cancelling" || phase === "planning";
  const runnable = phase === "idle" || phase === "done" || phase === "cancelled";
  // a failed run can be tried again when the settings still plan (a run error, not a plan error)
  return {
    run: (runnable || phase === "failed") && !planError,
    cancel: phase === "running",
    keep: hasResult && !busy,
    open: !busy,
  };
}

/** "under a second", "about 40 s", "about 3 min", "about 1.5 h": never "281 min 56 s". */
export function about(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "an unknown time";
  if (seconds < 1) return "under a second";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

/** "2.4 s", "1 min 5 s": a measured time. */
export function took(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "Super resolution ×4", "Restore photo (denoise)". */
export function taskLabel(tasks: TaskInfo[], task: string | undefined, scale?: number | null): string {
  const info = tasks.find((t) => t.id === task);
  const name = info?.title ?? task ?? "the task";
  return task === "upscale" && scale ? `${name} ×${scale}` : name;
}

export interface LineInputs {
  phase: Phase;
  plan: PlanFigures;
  progress: Progress;
  lastRun: LastRun;
  tasks: TaskInfo[];
  task: string;
  scale: number;
  hasResult: boolean;
  openName: string | null;
  cancelledAfter: number | null;
  error: { type?: string; message?: string };
}

/** The status line for a phase, in plain words. */
export function statusLine(x: LineInputs): string {
  const plan = x.plan;
  const label = taskLabel(x.tasks, x.task, x.scale);
  switch (x.phase) {
    case "empty":
      return "Open a photo: the Open button, drop a file on the image area, or paste one.";
    case "planning":
      return x.openName !== null ? `Opening ${x.openName}…` : "Working out the plan…";
    case "starting":
      return `Starting ${label}…`;
    case "running": {
      const done = x.progress.done ?? 0;
      const total = x.progress.total ?? 0;
      const left = x.progress.eta_s;
      const step = total > 1 ? `: part ${Math.min(done + 1, total)} of ${total}` : "";
      const time = left !== null && left !== undefined ? `, ${about(left)} left` : "";
      return done === 0 && total === 0
        ? `Running ${label}: loading the model…`
        : `Running ${label}${step}${time}.`;
    }
    case "cancelling":
      return "Cancelling: stopping after the current part…";
    case "done": {
      const r = x.lastRun;
      const size = r.out_size ? `${r.out_size[0]} × ${r.out_size[1]} px` : "the result";
      const secs = r.measured_s ?? (r.total_ms ?? 0) / 1000;
      const where = r.engine === "browser" ? ` on the browser engine (${r.provider ?? "?"})` : "";
      return `Done in ${took(secs)}${where}: ${size}. Save keeps it next to the photo; Download saves a copy.`;
    }
    case "cancelled": {
      const n = x.cancelledAfter;
      const total = x.progress.total ?? 0;
      const head = n !== null && total > 1 ? `Cancelled after ${n} of ${total} parts.` : "Cancelled.";
      if (!x.hasResult) return `${head} Nothing was kept; press Run to start again.`;
      const prev = taskLabel(x.tasks, x.lastRun.task, x.lastRun.scale);
      return `${head} The earlier result (${prev}) is still shown; Save and Download keep that one.`;
    }
    case "failed":
      if (plan.error && x.error.type === undefined)
        return `Cannot run with these settings: ${plan.error.message}`;
      return `The run failed: ${x.error.type ?? "Error"}: ${x.error.message ?? ""}. Change a setting or press Run to try again.`;
    case "no-model": {
      const info = x.tasks.find((t) => t.id === x.task);
      if (info?.available) return `The chosen model is not installed here: ${plan.error?.message ?? ""}`;
      const how = info?.install_hint ?? plan.error?.message ?? "";
      return `No ${info?.title ?? x.task} model is installed here. ${how}`.trim();
    }
    default:
      return `Ready: ${label}. Press Run.`;
  }
}

/** The error box's text, "" when it shows no error in this phase. */
export function errorText(err: State["error"], phase: Phase, hasImage: boolean): string {
  if (!err.type || (phase !== "failed" && err.during !== "open")) return "";
  const what = err.during === "open" ? `Could not open ${err.name ?? "the file"}: ` : "";
  const kept = err.during === "open" && hasImage ? " The photo shown before is kept." : "";
  return `${what}${err.type}: ${err.message ?? ""}${kept}`;
}

/** What the result on screen is called: "Enhanced", or what made it once the settings no longer do. */
export function resultName(run: LastRun, task: string, scale: number, tasks: TaskInfo[]): string {
  const same = !run.task || (run.task === task && (run.task !== "upscale" || run.scale === scale));
  return same ? "Enhanced" : `Earlier result: ${taskLabel(tasks, run.task, run.scale)}`;
}

/** What the status line says after Save (naming the result when the settings changed since). */
export function savedText(msg: SavedMsg, phase: Phase, run: LastRun, tasks: TaskInfo[]): string {
  const earlier = phase === "done" ? "" : ` the earlier result (${taskLabel(tasks, run.task, run.scale)})`;
  return msg.again ? `Already saved${earlier} to ${msg.path}` : `Saved${earlier} to ${msg.path}`;
}
