export async function callWebhook(hook, payload) {
    const label = hook.name ?? hook.url;
    try {
        const { request } = await import('undici');
        const response = await request(hook.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ ...payload, namespace: 'splitgate', type: hook.type, metadata: hook.metadata ?? {} }),
            headersTimeout: hook.timeout,
            bodyTimeout: hook.timeout,
            signal: AbortSignal.timeout(hook.timeout),
        });
        const text = (await response.body.text()).slice(0, 200);
        if (response.statusCode >= 200 && response.statusCode < 300)
            return { ok: true, detail: `${label}: ${response.statusCode}` };
        return { ok: false, detail: `${label}: ${response.statusCode}${text ? ` ${text}` : ''}` };
    }
    catch (error) {
        const code = error.code;
        return { ok: false, detail: `${label}: ${typeof code === 'string' ? code : (error.name ?? 'error')}` };
    }
}
export async function callWebhooks(hooks, type, payload) {
    const selected = hooks.filter((hook) => hook.type === type);
    if (selected.length === 0)
        return { ok: true, detail: `no ${type} hooks` };
    const outcomes = await Promise.all(selected.map((hook) => callWebhook(hook, payload)));
    return { ok: outcomes.every((o) => o.ok), detail: outcomes.map((o) => o.detail).join(', ') };
}
//# sourceMappingURL=webhooks.js.map