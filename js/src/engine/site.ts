// The one place the front end reads from a server: a model that the JupyterLite site serves (the
// page's own origin, never another), fetched when a task first runs with it. The worker checks its
// sha256 before use. Everywhere else, assets arrive as kernel messages.

/** The JupyterLite site's root: the page's `jupyter-config-data` names it (`baseUrl`); else the
 * folder above the app's page (`<site>/lab/index.html`). */
function siteRoot(): URL {
  const el = document.getElementById("jupyter-config-data");
  let base = "../";
  try {
    const cfg = JSON.parse(el?.textContent || "{}") as { baseUrl?: string };
    if (cfg.baseUrl) base = cfg.baseUrl;
  } catch {
    // no readable config: the default above
  }
  return new URL(base, window.location.href);
}

/** A model the JupyterLite site serves, by its address relative to the site's root. */
export async function fetchSiteAsset(url: string): Promise<ArrayBuffer> {
  const where = new URL(url, siteRoot());
  if (where.origin !== window.location.origin) {
    throw new Error(`models are read only from this page's own site, not ${where.origin}`);
  }
  const res = await fetch(where);
  if (!res.ok) throw new Error(`the site did not serve ${where.pathname} (${res.status})`);
  return res.arrayBuffer();
}
