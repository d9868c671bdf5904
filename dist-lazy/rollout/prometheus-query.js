export async function queryPrometheus(address, query, timeoutMs) {
    const url = new URL('api/v1/query', address.endsWith('/') ? address : `${address}/`);
    url.searchParams.set('query', query);
    try {
        const { request } = await import('undici');
        const response = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
        const body = (await response.body.json());
        if (response.statusCode !== 200 || body.status !== 'success')
            return `query failed: ${response.statusCode} ${body.error ?? ''}`.trim();
        const { resultType, result } = body.data ?? {};
        let raw;
        if (resultType === 'scalar')
            raw = result[1];
        else if (resultType === 'vector') {
            const samples = result;
            if (samples.length === 0)
                return 'no data';
            raw = samples[0].value[1];
        }
        else
            return `unsupported result type ${resultType}`;
        const value = Number(raw);
        return Number.isNaN(value) ? 'NaN' : value;
    }
    catch (error) {
        const code = error.code;
        return `query failed: ${typeof code === 'string' ? code : error.message}`;
    }
}
//# sourceMappingURL=prometheus-query.js.map