/**
 * Whether a request's Accept header prefers the Prometheus exposition over JSON. A scrape sends
 * `application/openmetrics-text;version=1.0.0,…;q=0.5,text/plain;version=0.0.4;q=0.3,*\/*;q=0.2`:
 * media-type parameters (version) are ignored, as the exposition is served in the text format that
 * every Prometheus accepts. Ties, wildcards and no header at all go to JSON.
 */
export function prefersExposition (accept: string | undefined): boolean {
  let exposition = 0
  let json = accept === undefined || accept.trim() === '' ? 1 : 0
  for (const part of (accept ?? '').split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase())
    const qParam = params.find((p) => p.startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    if (!(q > 0)) continue
    if (type === 'text/plain' || type === 'application/openmetrics-text') exposition = Math.max(exposition, q)
    else if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, q)
  }
  return exposition > json
}
