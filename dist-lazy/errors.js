export class SplitgateError extends Error {
    code;
    status;
    constructor(code, message, status = 500, options) {
        super(message, options);
        this.name = 'SplitgateError';
        this.code = code;
        this.status = status;
    }
    toJSON() {
        return { error: { code: this.code, message: this.message } };
    }
}
export class ConfigError extends SplitgateError {
    issues;
    constructor(issues, source) {
        const where = source ? ` in ${source}` : '';
        const lines = issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
        super('SG_CONFIG_INVALID', `invalid config${where}:\n  ${lines.join('\n  ')}`, 400);
        this.name = 'ConfigError';
        this.issues = issues;
    }
}
//# sourceMappingURL=errors.js.map