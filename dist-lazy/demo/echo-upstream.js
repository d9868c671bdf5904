import { createServer } from 'node:http';
export async function startEchoUpstream(version, port = 0, host = '127.0.0.1') {
    const server = createServer((req, res) => {
        const chunks = [];
        req.on('data', (chunk) => chunks.push(chunk));
        req.on('end', () => {
            const url = new URL(req.url ?? '/', 'http://upstream');
            const status = Number(url.searchParams.get('status') ?? 200);
            const delay = Math.min(Number(url.searchParams.get('delay') ?? 0), 30_000);
            const body = `${JSON.stringify({
                version,
                method: req.method,
                url: req.url,
                headers: req.headers,
                bodyBytes: Buffer.concat(chunks).length,
            }, null, 2)}\n`;
            const send = () => {
                res.writeHead(Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200, {
                    'content-type': 'application/json',
                    'x-upstream-version': version,
                });
                res.end(body);
            };
            if (delay > 0)
                setTimeout(send, delay);
            else
                send();
        });
    });
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return {
        version,
        server,
        url: `http://${host}:${address.port}`,
        close: () => new Promise((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        }),
    };
}
//# sourceMappingURL=echo-upstream.js.map