/**
 * One error base for everything splitgate reports: a stable string `code` that scripts and alerts can match on,
 * and the HTTP `status` the proxy answers with when the error reaches a client. Lower errors travel as `cause`.
 */
export class SplitgateError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SplitgateError';
    this.code = code;
    this.status = status;
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** One entry per problem found in a config, with the path it sits at (`routes[1].weight`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends SplitgateError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source ? ` in ${source}` : '';
    const lines = issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
    super('SG_CONFIG_INVALID', `invalid config${where}:\n  ${lines.join('\n  ')}`, 400);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
