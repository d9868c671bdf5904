/**
 * What the load scripts share about processes and ports on this machine: a free 127.0.0.1 port, pinning a command
 * to cores with taskset, and a process's CPU time and RSS from /proc.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

export const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** `taskset -c CORES cmd args` (taskset execs, so the child's pid is the command's own); unpinned without taskset. */
export function pinned(cores, command, args) {
  return hasTaskset ? ['taskset', ['-c', String(cores), command, ...args]] : [command, args];
}

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Fields after the command name in /proc/PID/stat (index 0 = state, field 3 of the man page), or null. */
export function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat), or null once it is gone. */
export function cpuSeconds(pid) {
  const fields = statFields(pid);
  return fields === null ? null : (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size of a process in bytes, or null once it is gone. */
export function rssBytes(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * A process's memory split by who pays for it, in bytes (from /proc/PID/smaps_rollup), or null once it is gone.
 * RSS counts every resident page the process maps, including the node binary's code (~40 MB), which every Node
 * process on the machine shares; `private` (USS) is what the process alone holds (what one more worker adds);
 * `proportional` (PSS) divides each shared page among its sharers, so the PSS of all processes sums to the memory used.
 */
export function memoryShares(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('Rss'), proportional: kb('Pss'), private: kb('Private_Clean') + kb('Private_Dirty') };
  } catch {
    return null;
  }
}
