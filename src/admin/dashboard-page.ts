/** The dashboard served at GET / on the admin listener: one self-contained page, no build step. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>splitgate</title></head>
<body><h1>splitgate</h1><p>See <a href="/status">/status</a>.</p></body></html>
`;
