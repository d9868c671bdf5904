/**
 * Rollout webhooks, Flagger's types and payload shape: POST JSON `{name, phase, revision, weight, type,
 * metadata}`, with a timeout. A non-2xx answer, a timeout or a refused connection is a "no".
 */
import type { RolloutWebhookConfig } from '../config/schema.js';

export interface HookOutcome {
  readonly ok: boolean;
  readonly detail: string;
}

export interface HookPayload {
  readonly name: string;
  readonly phase: string;
  readonly revision: string;
  readonly weight: number;
}

export async function callWebhook(hook: RolloutWebhookConfig, payload: HookPayload): Promise<HookOutcome> {
  const label = hook.name ?? hook.url;
  try {
    // Loaded on first use: most instances call no webhook, and undici's index costs ~10 MB of RSS.
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
    if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true, detail: `${label}: ${response.statusCode}` };
    return { ok: false, detail: `${label}: ${response.statusCode}${text ? ` ${text}` : ''}` };
  } catch (error) {
    const code = (error as { code?: unknown; name?: string }).code;
    return { ok: false, detail: `${label}: ${typeof code === 'string' ? code : ((error as Error).name ?? 'error')}` };
  }
}

/** All hooks of one type; ok only if every one says yes. No hooks of that type is a yes. */
export async function callWebhooks(hooks: readonly RolloutWebhookConfig[], type: string, payload: HookPayload): Promise<HookOutcome> {
  const selected = hooks.filter((hook) => hook.type === type);
  if (selected.length === 0) return { ok: true, detail: `no ${type} hooks` };
  const outcomes = await Promise.all(selected.map((hook) => callWebhook(hook, payload)));
  return { ok: outcomes.every((o) => o.ok), detail: outcomes.map((o) => o.detail).join(', ') };
}
