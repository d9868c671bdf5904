import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parse, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics/metrics.js';

// The Grafana dashboard and the Prometheus rules may only use metrics and labels splitgate really exports: the
// expressions are parsed here, every metric and label they name is checked against the live metric set, so renaming
// a metric or a label in src/metrics/metrics.ts fails this file. promtool then checks them with Prometheus's own
// parser and runs the alert unit tests.

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DASHBOARD = join(ROOT, 'config/grafana/splitgate-dashboard.json');
const ALERTS = join(ROOT, 'config/prometheus/alerts.yaml');
const ALERT_TESTS = join(ROOT, 'config/prometheus/alerts.test.yaml');
const PROMETHEUS_CONFIG = join(ROOT, 'config/prometheus/prometheus.yml');

/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];

interface MetricInfo {
  readonly type: 'counter' | 'gauge' | 'histogram-part';
  readonly labels: ReadonlySet<string>;
}
type MetricSet = ReadonlyMap<string, MetricInfo>;

/** The series names and labels splitgate exports, read from the real metric set (histograms as _bucket/_sum/_count). */
async function exportedMetrics(): Promise<Map<string, MetricInfo>> {
  const registry = new Registry();
  createMetrics(registry, { processMetrics: false });
  const result = new Map<string, MetricInfo>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const declared = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: unknown }).labelNames;
    if (!Array.isArray(declared)) throw new Error(`cannot read the label names of ${metric.name}`);
    const labels = [...(declared as string[]), ...TARGET_LABELS];
    const type = String(metric.type);
    if (type === 'histogram') {
      result.set(`${metric.name}_bucket`, { type: 'histogram-part', labels: new Set([...labels, 'le']) });
      result.set(`${metric.name}_sum`, { type: 'histogram-part', labels: new Set(labels) });
      result.set(`${metric.name}_count`, { type: 'histogram-part', labels: new Set(labels) });
    } else if (type === 'counter' || type === 'gauge') {
      result.set(metric.name, { type, labels: new Set(labels) });
    } else {
      throw new Error(`unexpected metric type ${type} of ${metric.name}`);
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// A PromQL parser, just enough to know which metrics and labels an expression names and which labels its result
// keeps (for legends and alert annotations). Syntax errors throw; promtool is the authority on the rest.

type Token =
  | { kind: 'ident'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'number'; text: string }
  | { kind: 'duration'; text: string }
  | { kind: 'punct'; text: string }
  | { kind: 'eof'; text: '' };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const patterns: [Token['kind'], RegExp][] = [
    ['duration', /^(?:\d+(?:ms|[smhdwy]))+(?![a-zA-Z0-9_:])/],
    ['number', /^(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![a-zA-Z0-9_:])/],
    ['ident', /^[a-zA-Z_:][a-zA-Z0-9_:]*/],
    ['punct', /^(?:==|!=|<=|>=|=~|!~|[-+*/%^<>=(){}[\],@:])/],
  ];
  let rest = source;
  while (true) {
    rest = rest.replace(/^(?:\s+|#[^\n]*)+/, '');
    if (rest === '') break;
    const quote = rest[0];
    if (quote === '"' || quote === "'" || quote === '`') {
      const match = quote === '`' ? /^`[^`]*`/.exec(rest) : new RegExp(`^${quote}(?:[^${quote}\\\\]|\\\\.)*${quote}`).exec(rest);
      if (!match) throw new Error(`unterminated string at: ${rest.slice(0, 30)}`);
      tokens.push({ kind: 'string', text: match[0].slice(1, -1) });
      rest = rest.slice(match[0].length);
      continue;
    }
    const found = patterns.find(([, pattern]) => pattern.test(rest));
    if (!found) throw new Error(`unexpected character at: ${rest.slice(0, 30)}`);
    const text = found[1].exec(rest)![0];
    tokens.push({ kind: found[0], text } as Token);
    rest = rest.slice(text.length);
  }
  tokens.push({ kind: 'eof', text: '' });
  return tokens;
}

const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'avg_over_time', 'ceil', 'changes', 'clamp',
  'clamp_max', 'clamp_min', 'cos', 'cosh', 'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg', 'delta',
  'deriv', 'exp', 'floor', 'histogram_quantile', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace',
  'last_over_time', 'ln', 'log10', 'log2', 'max_over_time', 'min_over_time', 'minute', 'month', 'pi', 'predict_linear',
  'present_over_time', 'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_desc',
  'sqrt', 'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp', 'vector', 'year',
]);
/** Functions whose result has no labels (a scalar, or a vector without labels). */
const LABELLESS_FUNCTIONS = new Set(['time', 'pi', 'scalar', 'vector', 'absent', 'absent_over_time', 'minute', 'hour', 'month', 'year',
  'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month']);
/** Functions that only make sense on counters. */
const COUNTER_FUNCTIONS = new Set(['rate', 'irate', 'increase', 'resets']);

interface Analysis {
  /** Labels the result may carry; undefined for a scalar or string. */
  readonly labels: ReadonlySet<string> | undefined;
  /** The metric of a bare (range) selector, to check what rate() and friends are applied to. */
  readonly selector?: string;
}

interface Report {
  readonly metrics: Set<string>;
  readonly problems: string[];
}

class PromqlChecker {
  readonly #tokens: Token[];
  #position = 0;
  readonly #known: MetricSet;
  readonly report: Report = { metrics: new Set(), problems: [] };

  constructor(expr: string, known: MetricSet) {
    this.#tokens = tokenize(expr);
    this.#known = known;
  }

  run(): Analysis {
    const result = this.#expression(0);
    if (this.#peek().kind !== 'eof') throw new Error(`unexpected ${this.#peek().text} after the expression`);
    return result;
  }

  #peek(offset = 0): Token {
    return this.#tokens[Math.min(this.#position + offset, this.#tokens.length - 1)];
  }
  #next(): Token {
    const token = this.#peek();
    if (token.kind !== 'eof') this.#position++;
    return token;
  }
  #is(text: string): boolean {
    const token = this.#peek();
    return (token.kind === 'punct' || token.kind === 'ident') && token.text === text;
  }
  #expect(text: string): void {
    const token = this.#next();
    if (token.text !== text || token.kind === 'string') throw new Error(`expected ${text}, found ${token.text || 'end of expression'}`);
  }
  #problem(message: string): void {
    this.report.problems.push(message);
  }
  #checkLabels(labels: readonly string[], available: ReadonlySet<string> | undefined, where: string): void {
    for (const label of labels) {
      if (available === undefined || !available.has(label)) {
        this.#problem(`label "${label}" in ${where} is not on [${[...(available ?? [])].sort().join(', ')}]`);
      }
    }
  }

  static readonly #LEVELS: readonly (readonly string[])[] = [
    ['or'],
    ['and', 'unless'],
    ['==', '!=', '<=', '<', '>=', '>'],
    ['+', '-'],
    ['*', '/', '%', 'atan2'],
    ['^'],
  ];

  #expression(level: number): Analysis {
    if (level === PromqlChecker.#LEVELS.length) return this.#unary();
    let left = this.#expression(level + 1);
    while (PromqlChecker.#LEVELS[level].some((op) => this.#is(op))) {
      const op = this.#next().text;
      if (this.#is('bool')) this.#next();
      let matching: { on: boolean; labels: string[] } | undefined;
      if (this.#is('on') || this.#is('ignoring')) matching = { on: this.#next().text === 'on', labels: this.#labelList() };
      let group: { side: 'left' | 'right'; labels: string[] } | undefined;
      if (this.#is('group_left') || this.#is('group_right')) {
        const side = this.#next().text === 'group_left' ? 'left' : 'right';
        group = { side, labels: this.#is('(') ? this.#labelList() : [] };
      }
      // "^" is right-associative; everything else left-associative.
      const right = op === '^' ? this.#expression(level) : this.#expression(level + 1);
      left = this.#binary(op, left, right, matching, group);
    }
    return left;
  }

  #binary(
    op: string,
    left: Analysis,
    right: Analysis,
    matching: { on: boolean; labels: string[] } | undefined,
    group: { side: 'left' | 'right'; labels: string[] } | undefined,
  ): Analysis {
    if (left.labels === undefined || right.labels === undefined) {
      if (matching !== undefined || group !== undefined) this.#problem(`vector matching on "${op}" with a scalar side`);
      return { labels: left.labels ?? right.labels };
    }
    if (matching?.on) {
      this.#checkLabels(matching.labels, left.labels, `on(...) left of "${op}"`);
      this.#checkLabels(matching.labels, right.labels, `on(...) right of "${op}"`);
    } else if (matching !== undefined) {
      this.#checkLabels(matching.labels, new Set([...left.labels, ...right.labels]), `ignoring(...) of "${op}"`);
    }
    if (op === 'or') return { labels: new Set([...left.labels, ...right.labels]) };
    if (op === 'and' || op === 'unless') return { labels: left.labels };
    if (group !== undefined) {
      const [many, one] = group.side === 'left' ? [left, right] : [right, left];
      this.#checkLabels(group.labels, one.labels, `${group.side === 'left' ? 'group_left' : 'group_right'}(...)`);
      return { labels: new Set([...many.labels!, ...group.labels]) };
    }
    // One-to-one matching keeps the on() labels, or the left side's labels minus the ignored ones.
    if (matching?.on) return { labels: new Set(matching.labels) };
    const ignored = new Set(matching?.labels ?? []);
    return { labels: new Set([...left.labels].filter((label) => !ignored.has(label))) };
  }

  #unary(): Analysis {
    if (this.#is('-') || this.#is('+')) {
      this.#next();
      return this.#unary();
    }
    return this.#postfix(this.#primary());
  }

  #postfix(inner: Analysis): Analysis {
    let result = inner;
    while (true) {
      if (this.#is('[')) {
        this.#next();
        this.#duration();
        if (this.#is(':')) {
          this.#next();
          if (!this.#is(']')) this.#duration();
          result = { labels: result.labels }; // a subquery is not a bare selector
        }
        this.#expect(']');
      } else if (this.#is('offset')) {
        this.#next();
        if (this.#is('-')) this.#next();
        this.#duration();
      } else if (this.#is('@')) {
        this.#next();
        if (this.#is('start') || this.#is('end')) {
          this.#next();
          this.#expect('(');
          this.#expect(')');
        } else if (this.#peek().kind === 'number') this.#next();
        else throw new Error('expected a timestamp, start() or end() after @');
      } else return result;
    }
  }

  #duration(): void {
    const token = this.#next();
    if (token.kind !== 'duration') throw new Error(`expected a duration, found ${token.text || 'end of expression'}`);
  }

  #labelList(): string[] {
    this.#expect('(');
    const labels: string[] = [];
    while (!this.#is(')')) {
      const token = this.#next();
      if (token.kind !== 'ident') throw new Error(`expected a label name, found ${token.text || 'end of expression'}`);
      labels.push(token.text);
      if (!this.#is(')')) this.#expect(',');
    }
    this.#expect(')');
    return labels;
  }

  #arguments(): Analysis[] {
    this.#expect('(');
    const args: Analysis[] = [];
    const strings: (string | undefined)[] = [];
    while (!this.#is(')')) {
      const token = this.#peek();
      strings.push(token.kind === 'string' ? token.text : undefined);
      args.push(this.#expression(0));
      if (!this.#is(')')) this.#expect(',');
    }
    this.#expect(')');
    this.#lastStrings = strings;
    return args;
  }
  #lastStrings: (string | undefined)[] = [];

  #primary(): Analysis {
    const token = this.#next();
    if (token.kind === 'number') return { labels: undefined };
    if (token.kind === 'string') return { labels: undefined };
    if (token.kind === 'punct' && token.text === '(') {
      const inner = this.#expression(0);
      this.#expect(')');
      return { labels: inner.labels };
    }
    if (token.kind === 'punct' && token.text === '{') throw new Error('a selector without a metric name');
    if (token.kind !== 'ident') throw new Error(`unexpected ${token.text || 'end of expression'}`);
    if (token.text === 'inf' || token.text === 'nan' || token.text === 'Inf' || token.text === 'NaN') return { labels: undefined };
    if (AGGREGATORS.has(token.text) && (this.#is('(') || this.#is('by') || this.#is('without'))) return this.#aggregation(token.text);
    if (this.#is('(')) return this.#call(token.text);
    return this.#selector(token.text);
  }

  #aggregation(name: string): Analysis {
    let grouping: { by: boolean; labels: string[] } | undefined;
    if (this.#is('by') || this.#is('without')) grouping = { by: this.#next().text === 'by', labels: this.#labelList() };
    const args = this.#arguments();
    const strings = this.#lastStrings;
    if (grouping === undefined && (this.#is('by') || this.#is('without'))) grouping = { by: this.#next().text === 'by', labels: this.#labelList() };
    const takesParameter = ['count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio'].includes(name);
    if (args.length !== (takesParameter ? 2 : 1)) throw new Error(`${name}() takes ${takesParameter ? 2 : 1} argument(s)`);
    const body = args[args.length - 1].labels;
    if (body === undefined) this.#problem(`${name}() over a scalar`);
    if (grouping !== undefined) this.#checkLabels(grouping.labels, body, `${name} ${grouping.by ? 'by' : 'without'} (...)`);
    if (['bottomk', 'topk', 'limitk', 'limit_ratio'].includes(name)) return { labels: body };
    const kept = grouping === undefined ? [] : grouping.by ? grouping.labels : [...(body ?? [])].filter((label) => !grouping.labels.includes(label));
    if (name === 'count_values') kept.push(strings[0] ?? '');
    return { labels: new Set(kept) };
  }

  #call(name: string): Analysis {
    if (!FUNCTIONS.has(name)) throw new Error(`unknown function ${name}()`);
    const args = this.#arguments();
    const strings = this.#lastStrings;
    if (COUNTER_FUNCTIONS.has(name)) {
      const metric = args[0]?.selector;
      if (metric !== undefined && this.#known.get(metric)?.type === 'gauge') this.#problem(`${name}() of the gauge ${metric}`);
    }
    if (LABELLESS_FUNCTIONS.has(name)) return { labels: name === 'time' || name === 'pi' || name === 'scalar' ? undefined : new Set() };
    const vector = args.find((arg) => arg.labels !== undefined);
    if (vector === undefined) throw new Error(`${name}() without a vector argument`);
    if (name === 'histogram_quantile') {
      this.#checkLabels(['le'], vector.labels, 'histogram_quantile()');
      return { labels: new Set([...vector.labels!].filter((label) => label !== 'le')) };
    }
    if (name === 'label_replace' || name === 'label_join') {
      const sources = name === 'label_replace' ? strings.slice(3, 4) : strings.slice(3);
      this.#checkLabels(sources.filter((label): label is string => label !== undefined && label !== ''), vector.labels, `${name}()`);
      return { labels: new Set([...vector.labels!, strings[1] ?? '']) };
    }
    return { labels: vector.labels };
  }

  #selector(name: string): Analysis {
    this.report.metrics.add(name);
    const info = this.#known.get(name);
    if (info === undefined) this.#problem(`metric ${name} is not exported by splitgate`);
    const labels: string[] = [];
    if (this.#is('{')) {
      this.#next();
      while (!this.#is('}')) {
        const label = this.#next();
        if (label.kind !== 'ident') throw new Error(`expected a label name in ${name}{...}, found ${label.text || 'end'}`);
        const op = this.#next();
        if (!['=', '!=', '=~', '!~'].includes(op.text)) throw new Error(`expected a label matcher operator after ${label.text}`);
        if (this.#next().kind !== 'string') throw new Error(`expected a string after ${label.text}${op.text}`);
        if (label.text !== '__name__') labels.push(label.text);
        if (!this.#is('}')) this.#expect(',');
      }
      this.#expect('}');
    }
    if (info !== undefined) this.#checkLabels(labels, info.labels, `${name}{...}`);
    return { labels: info?.labels ?? new Set(labels), selector: name };
  }
}

/** Grafana's interval variables become a duration; `$route` and friends only appear inside label matcher strings. */
function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$\{?__(?:rate_interval|interval|range)(?:_ms|_s)?\}?/g, '5m');
}

interface Checked extends Report {
  readonly labels: ReadonlySet<string> | undefined;
}

function checkExpr(expr: string, known: MetricSet): Checked {
  const checker = new PromqlChecker(substituteGrafanaVariables(expr), known);
  const { labels } = checker.run();
  return { ...checker.report, labels };
}

// ---------------------------------------------------------------------------------------------------------------

interface Target {
  readonly refId?: string;
  readonly expr?: string;
  readonly legendFormat?: string;
  readonly datasource?: { type?: string; uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { h: number; w: number; x: number; y: number };
  readonly datasource?: { type?: string; uid?: string };
  readonly targets?: Target[];
  readonly panels?: Panel[];
  readonly collapsed?: boolean;
}
interface Dashboard {
  readonly schemaVersion: number;
  readonly uid: string;
  readonly title: string;
  readonly panels: Panel[];
  readonly templating: { list: { name: string; type: string; query: unknown; definition?: string; datasource?: { uid?: string } }[] };
}
interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface RuleFile {
  readonly groups: { name: string; rules: Rule[] }[];
}

/** Every panel, rows' nested panels included (a collapsed row holds its panels). */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

function queryTargets(dashboard: Dashboard): { panel: Panel; target: Target }[] {
  return allPanels(dashboard.panels).flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
}

function problemsOf(exprs: readonly { where: string; expr: string }[], known: MetricSet): string[] {
  return exprs.flatMap(({ where, expr }) => {
    try {
      return checkExpr(expr, known).problems.map((problem) => `${where}: ${problem}`);
    } catch (error) {
      return [`${where}: cannot parse: ${(error as Error).message}`];
    }
  });
}

function dashboardExprs(dashboard: Dashboard): { where: string; expr: string }[] {
  return queryTargets(dashboard).map(({ panel, target }) => ({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr ?? '' }));
}

function ruleExprs(rules: RuleFile): { where: string; expr: string }[] {
  return rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `rule ${rule.alert ?? rule.record}`, expr: rule.expr })));
}

/** promtool from PATH, else Debian's /usr/bin/promtool. */
function findPromtool(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((dir) => dir.startsWith('/')), '/usr/bin'];
  return dirs.map((dir) => join(dir, 'promtool')).find((file) => existsSync(file));
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const binary = findPromtool();
  if (binary === undefined) {
    expect.fail(
      "promtool is not installed: install Debian's prometheus package (`apt-get install prometheus`, which provides " +
        '/usr/bin/promtool); CI installs it. These checks are never skipped.',
    );
  }
  const result = spawnSync(binary, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('monitoring assets', () => {
  let known: Map<string, MetricInfo>;
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const rules = parse(readFileSync(ALERTS, 'utf8')) as RuleFile;

  beforeAll(async () => {
    known = await exportedMetrics();
  });

  it('reads the exported names and labels from the real metric set', () => {
    expect(known.get('http_requests_total')?.labels).toEqual(new Set(['route', 'version', 'method', 'code', 'instance', 'job']));
    expect(known.get('http_request_duration_seconds_bucket')?.labels.has('le')).toBe(true);
    expect(known.has('http_request_duration_seconds')).toBe(false); // a histogram is only its _bucket/_sum/_count series
    expect(known.get('splitgate_config_generation')?.labels).toEqual(new Set(TARGET_LABELS));
  });

  it('the checker rejects unknown metrics and labels, so a rename fails this file', () => {
    const problems = (expr: string) => checkExpr(expr, known).problems;
    expect(problems('sum by (version) (rate(http_requests_total{route=~"$route"}[$__rate_interval]))')).toEqual([]);
    expect(problems('sum(rate(http_requests_totl[5m]))')).toEqual(['metric http_requests_totl is not exported by splitgate']);
    expect(problems('sum by (verison) (rate(http_requests_total[5m]))')[0]).toMatch(/label "verison" in sum by/);
    expect(problems('splitgate_route_weight{version="canary"}')[0]).toMatch(/label "version" in splitgate_route_weight/);
    expect(problems('http_request_duration_seconds')[0]).toMatch(/not exported/);
    expect(problems('histogram_quantile(0.9, sum by (route) (rate(http_request_duration_seconds_bucket[5m])))')[0]).toMatch(/"le"/);
    expect(problems('a / on (route) b')).toHaveLength(4);
    expect(problems('rate(splitgate_route_weight[5m])')).toEqual(['rate() of the gauge splitgate_route_weight']);
    expect(() => checkExpr('sum(rate(http_requests_total[5m])', known)).toThrow(/found end of expression/);
    expect(checkExpr('sum by (route) (rate(http_requests_total[5m])) / on (route) sum by (route, version) (splitgate_route_weight)', known).problems[0]).toMatch(/"version"/);

    // Simulate renaming splitgate_route_weight in metrics.ts: the shipped dashboard no longer passes.
    const renamed = new Map(known);
    renamed.delete('splitgate_route_weight');
    expect(problemsOf(dashboardExprs(dashboard), renamed).join('\n')).toMatch(/splitgate_route_weight is not exported/);
    expect(problemsOf(ruleExprs(rules), renamed)).toEqual([]);
    renamed.delete('http_requests_total');
    expect(problemsOf(ruleExprs(rules), renamed).join('\n')).toMatch(/http_requests_total is not exported/);
  });

  describe('Grafana dashboard', () => {
    it('every query names only exported metrics and their labels', () => {
      const exprs = dashboardExprs(dashboard);
      expect(exprs.length).toBeGreaterThan(15);
      expect(problemsOf(exprs, known)).toEqual([]);
      const used = new Set(exprs.flatMap(({ expr }) => [...checkExpr(expr, known).metrics]));
      // The dashboard charts every metric of the traffic, routing, mirror and config families (histograms via _bucket).
      const charted = [
        'http_requests_total', 'http_request_duration_seconds_bucket', 'splitgate_routing_decisions_total',
        'splitgate_upstream_errors_total', 'splitgate_route_weight', 'splitgate_config_generation', 'splitgate_config_info',
        'splitgate_config_reloads_total', 'splitgate_mirror_requests_total', 'splitgate_mirror_diffs_total',
        'splitgate_mirror_duration_seconds_bucket', 'splitgate_mirror_in_flight',
      ];
      expect(charted.filter((name) => !used.has(name))).toEqual([]);
    });

    it('every legend names labels its query keeps', () => {
      const problems: string[] = [];
      for (const { panel, target } of queryTargets(dashboard)) {
        const { labels } = checkExpr(target.expr ?? '', known);
        for (const [, label] of (target.legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
          if (!labels?.has(label)) problems.push(`panel "${panel.title}": legend {{${label}}} is not in the result's labels`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('the route variable lists label values of an exported metric', () => {
      const route = dashboard.templating.list.find((variable) => variable.name === 'route');
      const query = route?.query as { query?: string } | string | undefined;
      const text = typeof query === 'string' ? query : query?.query;
      expect(text).toBe('label_values(http_requests_total, route)');
      const [, metric, label] = /^label_values\((\w+),\s*(\w+)\)$/.exec(text ?? '') ?? [];
      expect(known.get(metric)?.labels.has(label)).toBe(true);
      expect(route?.definition).toBe(text);
      expect(route?.datasource?.uid).toBe('${datasource}');
    });

    it('is importable: Prometheus datasource variable, unique ids, valid grid, per-version panels', () => {
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
      expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
      expect(dashboard.templating.list.find((variable) => variable.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
      const panels = allPanels(dashboard.panels);
      expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
      for (const panel of panels) {
        expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
        if (panel.type === 'row') continue;
        expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        const refIds = panel.targets!.map((target) => target.refId);
        expect(new Set(refIds).size, panel.title).toBe(refIds.length);
        for (const target of panel.targets!) expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
      // Collapsed rows carry their panels inside; expanded rows carry none.
      for (const row of dashboard.panels.filter((panel) => panel.type === 'row')) {
        if (!row.collapsed) expect(row.panels ?? []).toEqual([]);
      }
      expect(panels.some((panel) => panel.type === 'row' && panel.collapsed && (panel.panels ?? []).length > 0)).toBe(true);
      // Stable and canary side by side: the core panels split their series by version.
      for (const title of ['Request rate by version', 'Success rate (non-5xx) by version', 'p50 latency by version', 'p99 latency by version']) {
        const panel = panels.find((candidate) => candidate.title === title);
        expect(panel, title).toBeDefined();
        expect(checkExpr(panel!.targets![0].expr!, known).labels, title).toEqual(new Set(['version']));
      }
    });

    it("every query parses with Prometheus's own parser (promtool check rules on a generated file)", () => {
      const dir = mkdtempSync(join(tmpdir(), 'splitgate-dashboard-'));
      try {
        const generated = {
          groups: [
            {
              name: 'dashboard',
              rules: queryTargets(dashboard).map(({ panel, target }, index) => ({
                record: `dashboard:panel_${panel.id}_${target.refId}_${index}`,
                expr: substituteGrafanaVariables(target.expr ?? ''),
              })),
            },
          ],
        };
        const file = join(dir, 'dashboard-rules.yaml');
        writeFileSync(file, stringify(generated));
        const { status, output } = promtool('check', 'rules', file);
        expect(status, output).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('Prometheus alerts', () => {
    it('every expression names only exported metrics and their labels', () => {
      expect(problemsOf(ruleExprs(rules), known)).toEqual([]);
    });

    it('are alerting rules of group splitgate-canary with severity, summary and description', () => {
      expect(rules.groups.map((group) => group.name)).toEqual(['splitgate-canary']);
      const alerts = rules.groups[0].rules;
      expect(alerts.map((rule) => rule.alert)).toEqual([
        'SplitgateCanaryErrorRateRegression',
        'SplitgateCanaryLatencyRegression',
        'SplitgateCanaryUpstreamErrors',
        'SplitgateConfigHashMismatch',
        'SplitgateConfigReloadFailed',
        'SplitgateMirrorMatchRateLow',
        'SplitgateErrorBudgetFastBurn',
        'SplitgateErrorBudgetSlowBurn',
      ]);
      for (const rule of alerts) {
        expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning|info)$/);
        expect(rule.annotations?.summary, rule.alert).toBeTruthy();
        expect(rule.annotations?.description, rule.alert).toBeTruthy();
      }
      expect(alerts[0].for).toBe('2m');
      expect(alerts[3].expr).toMatch(/count by \(job\) \(count by \(job, hash\) \(splitgate_config_info\)\) > 1/);
    });

    it('annotations only use labels the alert carries', () => {
      const problems: string[] = [];
      for (const rule of rules.groups.flatMap((group) => group.rules)) {
        const { labels } = checkExpr(rule.expr, known);
        for (const text of Object.values(rule.annotations ?? {})) {
          for (const [, label] of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
            if (!labels?.has(label)) problems.push(`${rule.alert}: $labels.${label} is not in [${[...(labels ?? [])].join(', ')}]`);
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it('pass promtool check rules', () => {
      const { status, output } = promtool('check', 'rules', ALERTS);
      expect(status, output).toBe(0);
      expect(output).toMatch(/SUCCESS: 8 rules found/);
    });

    it('pass their promtool unit tests (canary at 5 % vs stable at 0 % fires; both at 0.5 % does not)', () => {
      const tests = parse(readFileSync(ALERT_TESTS, 'utf8')) as { tests: { name: string }[] };
      expect(tests.tests.map((test) => test.name)).toEqual(
        expect.arrayContaining([
          'error-rate regression fires, canary 5 % vs stable 0 %',
          'error-rate regression stays quiet, both at 0.5 %',
          'error budget fast burn fires when 1h and 5m both burn',
          'error budget alerts need both windows of a pair',
        ]),
      );
      const { status, output } = promtool('test', 'rules', ALERT_TESTS);
      expect(status, output).toBe(0);
      expect(output).toMatch(/SUCCESS/);
    });
  });

  describe('Prometheus config', () => {
    it("scrapes splitgate's admin listener and loads the alerts", () => {
      const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
        rule_files: string[];
        scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
      };
      expect(config.rule_files).toEqual(['alerts.yaml']);
      const job = config.scrape_configs.find((scrape) => scrape.job_name === 'splitgate');
      expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
      expect(job?.static_configs.flatMap((target) => target.targets)).toEqual(['127.0.0.1:9901']);
    });

    it('passes promtool check config', () => {
      const { status, output } = promtool('check', 'config', PROMETHEUS_CONFIG);
      expect(status, output).toBe(0);
      expect(output).toMatch(/SUCCESS: 1 rule files found/);
    });
  });
});
