// Whether this browser offers a WebGPU adapter worth running on. Used by the page (to ask Python
// for the WebGPU build only where it can be used) and by the worker (to pick the provider).

export interface GpuProbe {
  /** a hardware adapter: "auto" runs on WebGPU */
  usable: boolean;
  /** a software adapter (SwiftShader: a CPU emulation, ~70x slower than wasm here); "webgpu" may force it */
  software: boolean;
  /** why "auto" does not use WebGPU ("" when it does) */
  why: string;
}

interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { architecture?: string; isFallbackAdapter?: boolean };
}

let probe: Promise<GpuProbe> | null = null;

export function probeGpu(): Promise<GpuProbe> {
  probe ??= (async (): Promise<GpuProbe> => {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<AdapterLike | null> } }).gpu;
    if (!gpu)
      return { usable: false, software: false, why: "this browser has no WebGPU (navigator.gpu is missing)" };
    try {
      const a = await gpu.requestAdapter();
      if (!a) {
        return {
          usable: false,
          software: false,
          why: "this browser has no WebGPU adapter (requestAdapter() returned null)",
        };
      }
      if (a.isFallbackAdapter || a.info?.isFallbackAdapter || a.info?.architecture === "swiftshader") {
        return {
          usable: false,
          software: true,
          why: "the only WebGPU adapter is a software one (SwiftShader), slower than wasm",
        };
      }
      return { usable: true, software: false, why: "" };
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return { usable: false, software: false, why: `requesting a WebGPU adapter failed: ${msg}` };
    }
  })();
  return probe;
}

/** Whether a run asking for `provider` goes to WebGPU on this probe. */
export function wantsGpu(provider: string, p: GpuProbe): boolean {
  return provider === "webgpu" ? p.usable || p.software : provider === "auto" && p.usable;
}
