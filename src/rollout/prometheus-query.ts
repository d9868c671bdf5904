/**
 * One instant query against Prometheus's HTTP API (`GET /api/v1/query`). The first sample of a vector, or a
 * scalar, is the value. Returns a number, or a text saying why there is none (no data, NaN, an error), which the
 * check turns into "inconclusive".
 */
export async function queryPrometheus(address: string, query: string, timeoutMs: number): Promise<number | string> {
  const url = new URL('api/v1/query', address.endsWith('/') ? address : `${address}/`);
  url.searchParams.set('query', query);
  try {
    // Loaded on first use: most instances never query Prometheus, and undici's index costs ~10 MB of RSS.
    const { request } = await import('undici');
    const response = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.body.json()) as {
      status?: string;
      error?: string;
      data?: { resultType?: string; result?: unknown };
    };
    if (response.statusCode !== 200 || body.status !== 'success') return `query failed: ${response.statusCode} ${body.error ?? ''}`.trim();
    const { resultType, result } = body.data ?? {};
    let raw: unknown;
    if (resultType === 'scalar') raw = (result as [number, string])[1];
    else if (resultType === 'vector') {
      const samples = result as Array<{ value: [number, string] }>;
      if (samples.length === 0) return 'no data';
      raw = samples[0].value[1];
    } else return `unsupported result type ${resultType}`;
    const value = Number(raw);
    return Number.isNaN(value) ? 'NaN' : value;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return `query failed: ${typeof code === 'string' ? code : (error as Error).message}`;
  }
}
