/**
 * `splitgate status|weight|kill|resume|promote|reload|events|rollout|fleet|experiment|flag`: the admin API from a terminal. Address and token
 * come from --admin/--token or SPLITGATE_ADMIN_URL/SPLITGATE_ADMIN_TOKEN. Prints a readable summary (or the raw
 * JSON with --json); exits 1 when the call fails, with the API's error code and message.
 */
import type { ExperimentReport } from './experiments/analysis.js';
import { formatExperimentReport } from './experiments/format-report.js';
import type { ShipResult } from './experiments/experiments-view.js';
import { formatPlan, type PlanView } from './rollout/plan-view.js';

export interface ControlOptions {
  readonly admin: string;
  readonly token: string | undefined;
  readonly json: boolean;
  readonly actor: string | undefined;
  /** `--clear` (splitgate weight ROUTE --clear): drop the operator weight. */
  readonly clear?: boolean;
  /** How long to wait for the admin API's answer (`--timeout`); DEFAULT_TIMEOUT_MS when not given. */
  readonly timeoutMs?: number;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export const CONTROL_COMMANDS = new Set(['status', 'weight', 'kill', 'resume', 'promote', 'reload', 'events', 'rollout', 'fleet', 'experiment', 'flag']);
/**
 * Long enough for a change every worker (and, with `fleet:`, Redis) must acknowledge; short enough that an
 * on-call's `splitgate kill` against a wedged admin listener says so instead of hanging.
 */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** The most arguments each command takes after its name (by its first, for those with actions): more is a typo. */
const MAX_ARGS: Record<string, number | ((action: string | undefined) => number)> = {
  status: 0,
  events: 1,
  weight: 2,
  kill: 1,
  resume: 1,
  promote: 1,
  reload: 0,
  fleet: 0,
  rollout: 2,
  experiment: (action) => (action === 'ship' ? 3 : 2),
  flag: (action) => (action === 'set' ? 3 : action === 'list' || action === undefined ? 1 : 2),
};

const ROLLOUT_ACTIONS = new Set(['start', 'pause', 'resume', 'abort', 'promote', 'retry', 'restart', 'approve']);

export const CONTROL_USAGE = `  splitgate status                 routes, weights, kill switches, stable vs canary over the last minute
  splitgate weight ROUTE PERCENT   set the canary weight (0..100, two decimals); --clear: back to the config's
  splitgate kill ROUTE             kill switch: all traffic to stable and mirroring off, at once
  splitgate resume ROUTE           lift the kill switch
  splitgate promote ROUTE          send 100 % to the canary
  splitgate reload                 re-read the config file (a bad file is rejected, the running one stays)
  splitgate events [ROUTE]         the audit trail, newest first
  splitgate rollout status [ROUTE] phase, step, and every check of the last window (value, threshold, sample)
  splitgate rollout start|pause|resume|abort|promote|retry|restart|approve ROUTE
  splitgate rollout plan ROUTE      a release plan's stages: done (when), current (bake left), to come (expected times)
  splitgate fleet                  fleet members (with fleet:), the state version each applied, who lags
  splitgate experiment status [KEY] A/B experiments: users and conversions per arm, SRM, always-valid p, guardrails, verdict
  splitgate experiment stop KEY    freeze an experiment's totals (kept across restarts; results still served)
  splitgate experiment ship KEY [A|B]  stop it and ship the winner (or the arm named): pin the flag's variant or move the weight
  splitgate flag list              flags: file state, override, what is evaluated, variant shares
  splitgate flag off|on KEY        kill a flag (DISABLED) | force it ENABLED with the file's targeting
  splitgate flag set KEY VARIANT   pin a flag to one variant (every evaluation, reason STATIC)
  splitgate flag clear KEY         drop the override: back to the flag file's definition
    options: --admin URL (default $SPLITGATE_ADMIN_URL or http://127.0.0.1:9901), --token T
             (default $SPLITGATE_ADMIN_TOKEN), --json, --timeout SECONDS (default 15)`;

interface ApiError {
  error?: { code?: string; message?: string; details?: unknown };
}

export async function runControl(command: string, args: readonly string[], options: ControlOptions): Promise<number> {
  const route = args[0];
  const needRoute = (): boolean => {
    if (route) return true;
    options.err(`splitgate ${command}: which route?\n`);
    return false;
  };
  const most = MAX_ARGS[command];
  const limit = typeof most === 'function' ? most(args[0]) : most;
  if (limit !== undefined && args.length > limit) {
    options.err(`splitgate ${command}: unexpected argument ${JSON.stringify(args[limit])} (splitgate --help lists each command's arguments)\n`);
    return 2;
  }
  try {
    switch (command) {
      case 'status': {
        const status = await call(options, 'GET', '/status');
        options.out(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status as StatusBody));
        return 0;
      }
      case 'events': {
        const query = route ? `?route=${encodeURIComponent(route)}&limit=50` : '?limit=50';
        const body = (await call(options, 'GET', `/events${query}`)) as { events: EventBody[] };
        options.out(options.json ? `${JSON.stringify(body, null, 2)}\n` : formatEvents(body.events));
        return 0;
      }
      case 'weight': {
        if (!needRoute()) return 2;
        if (options.clear === true) {
          if (args[1] !== undefined) {
            options.err(`splitgate weight: --clear takes no PERCENT\nusage: splitgate weight ROUTE PERCENT | --clear\n`);
            return 2;
          }
          return report(options, await call(options, 'DELETE', `/routes/${encodeURIComponent(route)}/weight`));
        }
        const weight = parsePercent(args[1]);
        if (weight === null) {
          const given = args[1] === undefined ? 'no PERCENT given' : `${JSON.stringify(args[1])} is not a percentage`;
          options.err(`splitgate weight: ${given}: write a plain decimal number from 0 to 100 with at most two decimals (e.g. 20 or 12.5)\nusage: splitgate weight ROUTE PERCENT | --clear\n`);
          return 2;
        }
        return report(options, await call(options, 'PUT', `/routes/${encodeURIComponent(route)}/weight`, { weight }));
      }
      case 'kill':
      case 'resume':
      case 'promote':
        if (!needRoute()) return 2;
        return report(options, await call(options, 'POST', `/routes/${encodeURIComponent(route)}/${command}`));
      // Awaited here, so their failures reach the catch below (one line, exit 1), not the top level as a stack trace.
      case 'rollout':
        return await rollout(args, options);
      case 'experiment':
        return await experiment(args, options);
      case 'flag':
        return await flag(args, options);
      case 'fleet': {
        const view = await call(options, 'GET', '/fleet');
        options.out(options.json ? `${JSON.stringify(view, null, 2)}\n` : formatFleet(view as FleetBody));
        return 0;
      }
      case 'reload': {
        const outcome = (await call(options, 'POST', '/reload')) as { generation: number; warnings?: string[] };
        options.out(options.json ? `${JSON.stringify(outcome, null, 2)}\n` : `reloaded: generation ${outcome.generation}\n`);
        if (!options.json) for (const warning of outcome.warnings ?? []) options.err(`warning: ${warning}\n`);
        return 0;
      }
      default:
        options.err(`splitgate: unknown command "${command}"\n`);
        return 2;
    }
  } catch (error) {
    options.err(`splitgate ${command}: ${(error as Error).message}\n`);
    return 1;
  }
}

/**
 * A weight exactly as an operator types one: digits, optionally a point and one or two more. Not Number(): it reads
 * '' and ' ' as 0, '0x10' as 16 and '1e1' as 10, weights nobody typed.
 */
export function parsePercent(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,3}(\.\d{1,2})?$/.test(text)) return null;
  const value = Number(text);
  return value <= 100 ? value : null;
}

async function experiment(args: readonly string[], options: ControlOptions): Promise<number> {
  const [action, key] = args;
  if (action === 'stop' && key !== undefined) {
    const stopped = (await call(options, 'POST', `/experiments/${encodeURIComponent(key)}/stop`)) as ExperimentReport & { warning?: string };
    options.out(options.json ? `${JSON.stringify(stopped, null, 2)}\n` : `${formatExperimentReport(stopped)}${stopped.warning ? `warning: ${stopped.warning}\n` : ''}`);
    return 0;
  }
  if (action === 'ship' && key !== undefined) {
    const arm = args[2];
    const result = (await call(options, 'POST', `/experiments/${encodeURIComponent(key)}/ship`, arm === undefined ? {} : { arm })) as ShipResult;
    const what = 'flag' in result.shipped ? `flag ${result.shipped.flag} pinned to ${result.shipped.variant}` : `route ${result.shipped.route} at ${result.shipped.weight} %`;
    options.out(options.json ? `${JSON.stringify(result, null, 2)}\n` : `experiment ${result.experiment}: arm ${result.arm} shipped (${what})\n${formatExperimentReport(result.report)}`);
    return 0;
  }
  if (action !== 'status') {
    options.err('splitgate experiment: usage: splitgate experiment status [KEY] | stop KEY | ship KEY [A|B]\n');
    return 2;
  }
  const reports = key === undefined ? ((await call(options, 'GET', '/experiments')) as { experiments: ExperimentReport[] }).experiments : [(await call(options, 'GET', `/experiments/${encodeURIComponent(key)}`)) as ExperimentReport];
  if (options.json) options.out(`${JSON.stringify(key === undefined ? { experiments: reports } : reports[0], null, 2)}\n`);
  else options.out(reports.length === 0 ? 'no experiments\n' : reports.map(formatExperimentReport).join('\n'));
  return 0;
}

const FLAG_USAGE = 'splitgate flag: usage: splitgate flag list | splitgate flag off|on|clear KEY | splitgate flag set KEY VARIANT\n';

async function flag(args: readonly string[], options: ControlOptions): Promise<number> {
  const [action, key, variant] = args;
  if (action === 'list' || action === undefined) {
    const body = (await call(options, 'GET', '/flags')) as { flags: FlagBody[] };
    options.out(options.json ? `${JSON.stringify(body, null, 2)}\n` : formatFlags(body.flags));
    return 0;
  }
  const path = key === undefined ? '' : `/flags/${encodeURIComponent(key)}`;
  let result: unknown;
  if ((action === 'off' || action === 'on') && key !== undefined) result = await call(options, 'PUT', path, { state: action === 'off' ? 'DISABLED' : 'ENABLED' });
  else if (action === 'set' && key !== undefined && variant !== undefined) result = await call(options, 'PUT', path, { defaultVariant: variant });
  else if (action === 'clear' && key !== undefined) result = await call(options, 'DELETE', path);
  else {
    options.err(FLAG_USAGE);
    return 2;
  }
  const change = result as { flag: string; override: { state?: string; defaultVariant?: string } | null; generation: number; warning?: string; fleet?: { pending?: boolean; message?: string } };
  const pending = change.fleet?.pending ? `; fleet: PENDING (${change.fleet.message ?? 'applied here only'})` : '';
  if (options.json) options.out(`${JSON.stringify(result, null, 2)}\n`);
  else options.out(`${change.flag}: ${describeOverride(change.override)}, generation ${change.generation}${pending}\n`);
  if (change.warning && !options.json) options.err(`warning: ${change.warning}\n`);
  return 0;
}

interface FlagBody {
  key: string;
  file: { state: string; defaultVariant: string | null };
  override: { state?: string; defaultVariant?: string } | null;
  effective: { state: string; defaultVariant: string | null };
  evaluations: { total: number; shares: Record<string, number> };
}

function describeOverride(override: { state?: string; defaultVariant?: string } | null): string {
  if (override === null) return 'as the flag file defines it';
  if (override.defaultVariant !== undefined) return `PINNED to "${override.defaultVariant}"`;
  return override.state === 'DISABLED' ? 'KILLED (DISABLED)' : 'forced ENABLED';
}

function formatFlags(flags: FlagBody[]): string {
  if (flags.length === 0) return 'no flags\n';
  return `${flags
    .map((f) => {
      const shares = Object.entries(f.evaluations.shares).map(([variant, share]) => `${variant} ${(share * 100).toFixed(1)} %`).join(', ');
      const file = `file: ${f.file.state}${f.file.defaultVariant === null ? '' : ` default ${f.file.defaultVariant}`}`;
      return `${f.key}: ${describeOverride(f.override)} (${file}); ${f.evaluations.total} evaluations${shares ? `: ${shares}` : ''}`;
    })
    .join('\n')}\n`;
}

async function call(options: ControlOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.actor) headers['x-actor'] = options.actor;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  let text: string;
  try {
    response = await fetch(new URL(path, options.admin), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    text = await response.text();
  } catch (error) {
    if (signal.aborted) {
      const change = method === 'GET' ? '' : '; the change may still have been applied: check with splitgate status';
      throw new Error(`no answer from the admin API at ${options.admin} within ${timeoutMs / 1000} s (--timeout)${change}`);
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the admin API at ${options.admin} (${cause?.code ?? cause?.message ?? (error as Error).message})`);
  }
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: reported as text below.
  }
  if (!response.ok) {
    const apiError = (parsed as ApiError).error;
    const details = Array.isArray(apiError?.details) ? `\n  ${apiError.details.join('\n  ')}` : '';
    // With admin.token set, reads need the token as much as changes do.
    const hint = response.status === 401 && !options.token ? ' (pass --token or set SPLITGATE_ADMIN_TOKEN)' : '';
    throw new Error(`${response.status} ${apiError?.code ?? ''} ${apiError?.message ?? text}`.replace(/\s+/g, ' ').trim() + hint + details);
  }
  return parsed;
}

async function rollout(args: readonly string[], options: ControlOptions): Promise<number> {
  const [action, route] = args;
  if (action === 'status' || action === undefined) {
    const body = (await call(options, 'GET', '/rollouts')) as { rollouts: Record<string, RolloutBody> };
    const entries = Object.entries(body.rollouts).filter(([name]) => route === undefined || name === route);
    if (options.json) options.out(`${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`);
    else options.out(entries.length === 0 ? 'no rollouts\n' : entries.map(([name, status]) => formatRollout(name, status)).join('\n'));
    return 0;
  }
  if (action === 'plan' && route !== undefined) {
    const body = (await call(options, 'GET', `/routes/${encodeURIComponent(route)}/rollout/plan`)) as { route: string; plan: PlanView };
    options.out(options.json ? `${JSON.stringify(body, null, 2)}\n` : formatPlan(body.route, body.plan));
    return 0;
  }
  if (!ROLLOUT_ACTIONS.has(action) || route === undefined) {
    options.err(`splitgate rollout: usage: splitgate rollout status [ROUTE] | splitgate rollout plan ROUTE | splitgate rollout ${[...ROLLOUT_ACTIONS].join('|')} ROUTE\n`);
    return 2;
  }
  const result = (await call(options, 'POST', `/routes/${encodeURIComponent(route)}/rollout/${action}`)) as { route: string; rollout: RolloutBody };
  options.out(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatRollout(result.route, result.rollout));
  return 0;
}

interface RolloutBody {
  phase: string;
  step: number;
  weight: number;
  failedChecks: number;
  message: string;
  revision: string;
  lastWindow: { at: string; verdict: string; results: Array<{ check: string; result: string; value: number | null; threshold: string; sample: { canary: number; stable?: number }; detail: string }> } | null;
  plan?: PlanView;
}

function formatRollout(name: string, status: RolloutBody): string {
  const lines = [`${name}: ${status.phase}, step ${status.step + 1}, canary at ${status.weight} %, failed windows ${status.failedChecks}`, `  ${status.message}`];
  if (status.lastWindow) {
    lines.push(`  last window ${status.lastWindow.at}: ${status.lastWindow.verdict}`);
    for (const r of status.lastWindow.results) {
      const sample = r.sample.stable === undefined ? `n=${r.sample.canary}` : `n=${r.sample.canary}/${r.sample.stable}`;
      lines.push(`    ${r.result.padEnd(12)} ${r.check.padEnd(20)} ${String(r.value ?? '–').padStart(9)}  want ${r.threshold}  (${sample}) ${r.detail}`);
    }
  }
  if (status.plan) lines.push(formatPlan(name, status.plan).trimEnd().split('\n').map((line) => `  ${line}`).join('\n'));
  return `${lines.join('\n')}\n`;
}

function report(options: ControlOptions, result: unknown): number {
  if (options.json) {
    options.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const r = result as {
    route: string;
    weight: number;
    weightSource: string;
    killed: boolean;
    generation: number;
    warning?: string;
    fleet?: { version: number; acknowledged?: number; members?: number; pending?: boolean; message?: string };
  };
  const fleet =
    r.fleet === undefined
      ? ''
      : r.fleet.pending
        ? `; fleet: PENDING (${r.fleet.message ?? 'applied here only'})`
        : `; fleet version ${r.fleet.version}, applied by ${r.fleet.acknowledged}/${r.fleet.members} members so far`;
  options.out(`${r.route}: weight ${r.weight} % (${r.weightSource})${r.killed ? ', KILLED (all traffic to stable)' : ''}, generation ${r.generation}${fleet}\n`);
  if (r.warning) options.err(`warning: ${r.warning}\n`);
  return 0;
}

interface VersionBody {
  rps: number | null;
  successRate: number | null;
  p99Ms: number | null;
  requests: number;
}

interface StatusBody {
  generation: number;
  configHash: string;
  lastReloadError: { errors: string[] } | null;
  stateError?: string | null;
  routes: Array<{
    name: string;
    weight: number;
    weightSource: string;
    killed: boolean;
    upstreams: { stable: string; canary: string | null };
    mirror: { to: string; percent: number; matchRate: number | null } | null;
    versions: { stable: VersionBody; canary: VersionBody | null };
  }>;
}

function formatStatus(status: StatusBody): string {
  const lines = [`generation ${status.generation}, config ${status.configHash}`];
  if (status.lastReloadError) lines.push(`last reload REJECTED: ${status.lastReloadError.errors.join('; ')}`);
  if (status.stateError) lines.push(`STATE FILE PROBLEM: ${status.stateError}`);
  for (const route of status.routes) {
    const state = route.killed ? 'KILLED' : route.upstreams.canary === null ? 'no canary' : `${route.weight} % canary (${route.weightSource})`;
    lines.push('', `${route.name}: ${state}`);
    lines.push(`  ${'version'.padEnd(8)} ${'req/s'.padStart(9)} ${'success'.padStart(9)} ${'p99'.padStart(10)} ${'requests'.padStart(9)}`);
    for (const [version, stats] of [['stable', route.versions.stable], ['canary', route.versions.canary]] as const) {
      if (stats === null) continue;
      lines.push(
        `  ${version.padEnd(8)} ${fmt(stats.rps, '').padStart(9)} ${fmt(stats.successRate, ' %').padStart(9)} ${fmt(stats.p99Ms, ' ms').padStart(10)} ${String(stats.requests).padStart(9)}`,
      );
    }
    if (route.mirror) lines.push(`  mirror → ${route.mirror.to} at ${route.mirror.percent} %, match rate ${route.mirror.matchRate === null ? '–' : `${(route.mirror.matchRate * 100).toFixed(2)} %`}`);
  }
  return `${lines.join('\n')}\n`;
}

interface FleetBody {
  fleet: string;
  member: string;
  connected: boolean;
  leader: boolean;
  versions: Record<string, number>;
  converged: boolean;
  members: Array<{
    id: string;
    host: string;
    version: string;
    configHash: string;
    applied: Record<string, number>;
    pendingKills: string[];
    ageSeconds: number;
    self: boolean;
    lagging: Array<{ route: string; applied: number; fleet: number }>;
  }>;
}

function formatFleet(view: FleetBody): string {
  const versions = Object.entries(view.versions).map(([route, version]) => `${route}@${version}`).join(' ');
  const lines = [
    `fleet ${view.fleet}: ${view.members.length} members, ${view.converged ? 'converged' : 'NOT converged'}${view.connected ? '' : ' (Redis UNREACHABLE from this member: last known)'}`,
    `state versions: ${versions || '–'}`,
    '',
    `  ${'member'.padEnd(28)} ${'host'.padEnd(20)} ${'version'.padEnd(9)} ${'config'.padEnd(16)} ${'seen'.padStart(6)}  state`,
  ];
  for (const m of view.members) {
    const lag = m.lagging.map((l) => `${l.route} ${l.applied}<${l.fleet}`).join(', ');
    const pending = m.pendingKills.length > 0 ? ` pending kill: ${m.pendingKills.join(', ')}` : '';
    const state = lag ? `LAGS: ${lag}` : 'up to date';
    lines.push(
      `${m.self ? '*' : ' '} ${m.id.padEnd(28)} ${m.host.padEnd(20)} ${m.version.padEnd(9)} ${m.configHash.padEnd(16)} ${`${m.ageSeconds}s`.padStart(6)}  ${state}${pending}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

interface EventBody {
  time: string;
  actor: string;
  action: string;
  route?: string;
  before?: unknown;
  after?: unknown;
  message?: string;
}

function formatEvents(events: EventBody[]): string {
  if (events.length === 0) return 'no events\n';
  return `${events
    .map((e) => {
      const change = e.before !== undefined || e.after !== undefined ? ` ${JSON.stringify(e.before ?? null)} → ${JSON.stringify(e.after ?? null)}` : '';
      return `${e.time}  ${e.action.padEnd(20)} ${(e.route ?? '').padEnd(12)} ${e.actor}${change}${e.message ? `  ${e.message}` : ''}`;
    })
    .join('\n')}\n`;
}

function fmt(value: number | null, unit: string): string {
  return value === null ? '–' : `${value}${unit}`;
}
