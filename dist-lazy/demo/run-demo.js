import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { Splitgate } from '../splitgate.js';
import { startEchoUpstream } from './echo-upstream.js';
const configFile = process.env.SPLITGATE_DEMO_CONFIG ?? fileURLToPath(new URL('../../config/demo.yaml', import.meta.url));
async function runDemo() {
    const config = await loadConfigFile(configFile);
    const stable = await startEchoUpstream('stable', 3001);
    const canary = await startEchoUpstream('canary', 3002);
    const shadow = await startEchoUpstream('shadow', 3003);
    const splitgate = await Splitgate.start({ config, configPath: configFile });
    const proxy = splitgate.proxyAddress.url.replace('127.0.0.1', 'localhost');
    process.stdout.write([
        '',
        `splitgate demo: stable ${stable.url}, canary ${canary.url}, shadow ${shadow.url}`,
        `  proxy  ${proxy}   admin ${splitgate.adminAddress.url}`,
        '',
        'try:',
        `  curl ${proxy}/                              # 10 % go to canary, sticky by cookie sg_uid`,
        `  curl -H 'x-user-id: alice' ${proxy}/        # same user, same version, every time`,
        `  curl -H 'x-canary: always' ${proxy}/        # tester override`,
        `  curl -H 'x-beta-tester: true' ${proxy}/     # rule: beta testers get the canary`,
        `  curl ${splitgate.adminAddress.url}/metrics | grep http_requests_total`,
        `  curl ${splitgate.adminAddress.url}/diffs/summary             # what the shadow answers differently`,
        `  open ${splitgate.adminAddress.url}/ in a browser             # the dashboard`,
        `  npx splitgate status | weight demo 25 | kill demo | resume demo`,
        '',
    ].join('\n') + '\n');
    const shutdown = () => {
        splitgate
            .stop(2_000)
            .then(() => Promise.all([stable.close(), canary.close(), shadow.close()]))
            .then(() => process.exit(0));
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
}
runDemo().catch((error) => {
    const message = error instanceof ConfigError ? error.message : error.message;
    process.stderr.write(`splitgate demo: ${message}\n`);
    process.exit(1);
});
//# sourceMappingURL=run-demo.js.map