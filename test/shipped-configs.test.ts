import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
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

  // Both shapes splitgate is deployed in run as a fleet on the shipped Redis: each manifest's ConfigMap is a valid
  // config with `fleet:` pointing at the Redis Service, and each pod names itself in the fleet by its pod name.
  it.each([
    ['config/kubernetes/splitgate.yaml', 'splitgate', 'checkout-gw', 1],
    ['config/kubernetes/sidecar.yaml', 'checkout', 'checkout-sidecars', 2],
  ])('%s runs its replicas as one fleet', (file, deployment, fleetName, containers) => {
    const documents = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject);
    const configMap = documents.find((d) => d.kind === 'ConfigMap')!;
    const config = parseConfigText(Object.values(configMap.data!)[0], { SPLITGATE_ADMIN_TOKEN: 'token' });
    expect(config.fleet).toMatchObject({ name: fleetName, redis: { url: `redis://${redisService().name}:${redisService().port}` } });
    expect(config.fleet!.redis.password).toBeUndefined();
    expect(parseConfigText(Object.values(configMap.data!)[0], { SPLITGATE_ADMIN_TOKEN: 'token', SPLITGATE_REDIS_PASSWORD: 'pw' }).fleet!.redis.password).toBe('pw');
    const spec = documents.find((d) => d.kind === 'Deployment' && d.metadata.name === deployment)!.spec!;
    expect(spec.replicas).toBeGreaterThan(1);
    const pod = spec.template.spec;
    expect(pod.containers).toHaveLength(containers);
    const splitgate = pod.containers.find((c) => c.name === 'splitgate')!;
    expect(splitgate.env).toContainEqual({ name: 'SPLITGATE_MEMBER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    const configVolume = pod.volumes.find((v) => v.configMap?.name === configMap.metadata.name);
    expect(splitgate.volumeMounts.some((m) => m.name === configVolume?.name && splitgate.args.join(' ').includes(m.mountPath))).toBe(true);
  });

  it('the minimal Redis is a Deployment and a Service on 6379', () => {
    const documents = parseAllDocuments(readFileSync('config/kubernetes/redis.yaml', 'utf8')).map((d) => d.toJS() as K8sObject);
    expect(documents.map((d) => d.kind)).toEqual(['Deployment', 'Service']);
    expect(documents[0].spec!.template.spec.containers[0].image).toMatch(/^redis:/);
  });
});

interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: unknown;
    ports?: Array<{ port: number }>;
    template: {
      spec: {
        containers: Array<{ name: string; image: string; args: string[]; env?: unknown[]; volumeMounts: Array<{ name: string; mountPath: string }> }>;
        volumes: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
  };
}

function redisService(): { name: string; port: number } {
  const service = parseAllDocuments(readFileSync('config/kubernetes/redis.yaml', 'utf8'))
    .map((d) => d.toJS() as K8sObject)
    .find((d) => d.kind === 'Service')!;
  return { name: service.metadata.name, port: service.spec!.ports![0].port };
}

/** The final stage of the Dockerfile, read statically (Docker does not run here): what the running image has. */
interface ImageStage {
  readonly env: Record<string, string>;
  readonly workdir: string;
  readonly user: string;
  readonly runs: string[];
  readonly volumes: string[];
  /** destination → source of COPY instructions from the build context (not --from=). */
  readonly copies: Map<string, string>;
  readonly args: string[];
}

function jsonOrWords(text: string): string[] {
  return text.trim().startsWith('[') ? (JSON.parse(text) as string[]) : text.trim().split(/\s+/);
}

function readFinalStage(dockerfile: string): ImageStage {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const last = lines.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  const stage = { env: {} as Record<string, string>, workdir: '/', user: 'root', runs: [] as string[], volumes: [] as string[], copies: new Map<string, string>(), args: [] as string[] };
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  for (const line of lines.slice(last + 1)) {
    const [, instruction, rest] = /^(\S+)\s+(.*)$/.exec(line)!;
    switch (instruction.toUpperCase()) {
      case 'ENV':
        for (const [, key, value] of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) stage.env[key] = value.replace(/^"|"$/g, '');
        break;
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, rest);
        break;
      case 'USER':
        stage.user = rest;
        break;
      case 'RUN':
        stage.runs.push(rest);
        break;
      case 'VOLUME':
        stage.volumes.push(...jsonOrWords(rest));
        break;
      case 'COPY': {
        if (rest.startsWith('--from')) break;
        const words = jsonOrWords(rest);
        stage.copies.set(words[words.length - 1], words[0]);
        break;
      }
      case 'ENTRYPOINT':
        entrypoint = jsonOrWords(rest);
        break;
      case 'CMD':
        cmd = jsonOrWords(rest);
        break;
    }
  }
  stage.args = [...entrypoint, ...cmd];
  return stage;
}

/** Shell commands of the RUN instructions, each as words: `mkdir -p /x && chown a:b /x` → two commands. */
function commandsOf(runs: readonly string[]): string[][] {
  return runs.flatMap((run) => run.split(/&&|;/).map((command) => command.trim().split(/\s+/)));
}

function directoryOf(stateFile: string | false, workdir: string): string {
  if (stateFile === false) throw new Error('the shipped config keeps no state file');
  return posix.dirname(posix.resolve(workdir, stateFile));
}

// Issue 14 item 10: the image runs as an unprivileged user in a root-owned /app, so its state file must live in a
// directory that user owns, or every runtime change answers "in force, but not saved".
describe('container image and manifest can save runtime state', () => {
  const image = readFinalStage(readFileSync('Dockerfile', 'utf8'));
  const configArg = image.args[image.args.indexOf('--config') + 1];
  const imageConfig = image.copies.get(configArg);

  it('the image runs as a user other than root, with the config it copies in', () => {
    expect(image.user).not.toMatch(/^(root|0)(:|$)/);
    expect(imageConfig).toBe('config/example.yaml');
  });

  it("the image's config, with the image's environment, writes its state into a directory the image creates, gives its user and declares a volume", async () => {
    const config = await loadConfigFile(imageConfig!, image.env);
    const dir = directoryOf(config.state.file, image.workdir);
    expect(dir).not.toBe(image.workdir);
    const commands = commandsOf(image.runs);
    expect(commands.some((words) => words[0] === 'mkdir' && words.includes(dir))).toBe(true);
    const owner = image.user.split(':')[0];
    expect(commands.some((words) => words[0] === 'chown' && words.filter((w) => !w.startsWith('-'))[1]?.split(':')[0] === owner && words.includes(dir))).toBe(true);
    expect(image.volumes).toContain(dir);
  });

  it('run locally, the same config keeps its state file in the current directory', async () => {
    expect((await loadConfigFile(imageConfig!, {})).state.file).toBe('splitgate-state.json');
  });

  it('the Kubernetes Deployment mounts a writable volume where its config keeps state, writable by the container user', () => {
    const documents = parseAllDocuments(readFileSync('config/kubernetes/splitgate.yaml', 'utf8')).map((d) => d.toJS());
    const configMap = documents.find((d) => d.kind === 'ConfigMap');
    const deployment = documents.find((d) => d.kind === 'Deployment');
    const config = parseConfigText(configMap.data['splitgate.yaml'], { ...image.env, SPLITGATE_ADMIN_TOKEN: 'token' });
    const dir = directoryOf(config.state.file, image.workdir);
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((c: { name: string }) => c.name === 'splitgate');
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === dir);
    expect(mount, `a volume mounted at ${dir}`).toBeDefined();
    expect(mount.readOnly ?? false).toBe(false);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.configMap ?? volume.secret ?? volume.projected).toBeUndefined();
    // The node user of the official Node.js images is 1000:1000; fsGroup gives it the volume.
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    expect(container.securityContext?.runAsUser ?? 1000).toBe(1000);
  });
});
