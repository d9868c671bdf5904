/**
 * Regression (issue 14, item 13): the state file's rename must reach the disk. After renaming the temporary file
 * over the state file, the directory itself is fsync'd; otherwise a crash can bring back the old file (a killed
 * canary alive again). Checked on the real system calls of a real process, traced with strace.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const stateModule = pathToFileURL(resolve('dist/control/state-file.js')).href;

describe('state file durability', () => {
  it('fsyncs the file, renames it into place, then fsyncs the directory that holds it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-durable-'));
    const path = join(dir, 'state.json');
    const script = join(dir, 'save.mjs');
    await writeFile(
      script,
      `import { StateFile } from ${JSON.stringify(stateModule)};\n` +
        `await new StateFile(${JSON.stringify(path)}).save({ version: 1, routes: { api: { killed: true } } });\n`,
    );
    const trace = join(dir, 'trace.txt');
    await run('strace', ['-f', '-qq', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2,close', '-o', trace, process.execPath, script]);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: 1, routes: { api: { killed: true } } });

    const lines = (await readFile(trace, 'utf8')).split('\n');
    const renameAt = lines.findIndex((line) => /rename/.test(line) && line.includes(`"${path}"`) && !/ = -1/.test(line));
    expect(renameAt, 'the state file is renamed into place').toBeGreaterThan(-1);
    // The temporary file was synced before the rename...
    const tmpOpen = lines.findIndex((line) => line.includes('openat(') && line.includes(`${path}.`) && line.includes('.tmp"'));
    const tmpFd = /= (\d+)$/.exec(lines[tmpOpen]?.trim() ?? '')?.[1];
    expect(tmpFd).toBeDefined();
    expect(lines.slice(tmpOpen, renameAt).some((line) => new RegExp(`fsync\\(${tmpFd}\\)\\s+= 0`).test(line))).toBe(true);
    // ...and the directory is opened and synced after it.
    const after = lines.slice(renameAt + 1);
    const dirOpen = after.findIndex((line) => line.includes('openat(') && line.includes(`"${dir}"`) && /= \d+$/.test(line.trim()));
    expect(dirOpen, 'the directory is opened after the rename').toBeGreaterThan(-1);
    const dirFd = /= (\d+)$/.exec(after[dirOpen].trim())![1];
    expect(after.slice(dirOpen).some((line) => new RegExp(`fsync\\(${dirFd}\\)\\s+= 0`).test(line)), 'the directory is fsynced').toBe(true);
  });

  it('leaves no temporary file behind when a write fails (a full disk must not fill up further, one copy per save)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-atomic-'));
    const { writeAtomically } = await import('../src/control/state-file.js');
    // Not a string or bytes: the write itself throws, after the temporary file was opened.
    await expect(writeAtomically(join(dir, 'state.json'), 42 as unknown as string)).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });
});
