import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText } from '../src/config/load.js';

// Every config the project ships must load, so the README and manifests never show something that fails.
describe('shipped configs', () => {
  it.each(['config/demo.yaml', 'config/example.yaml', 'loadtest/splitgate-bench.yaml'])('%s is valid', async (file) => {
    const config = await loadConfigFile(file, {});
    expect(config.routes.length).toBeGreaterThan(0);
  });

  it('the Kubernetes ConfigMap holds a valid config', () => {
    const documents = parseAllDocuments(readFileSync('config/kubernetes/splitgate.yaml', 'utf8'));
    const configMap = documents[0].toJS() as { data: Record<string, string> };
    const config = parseConfigText(configMap.data['splitgate.yaml'], { SPLITGATE_ADMIN_TOKEN: 'token' });
    expect(config.admin.token).toBe('token');
    expect(() => parseConfigText(configMap.data['splitgate.yaml'], {})).toThrow(/SPLITGATE_ADMIN_TOKEN is not set/);
  });
});
