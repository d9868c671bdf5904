/**
 * Issue 14 item 3: only literal loopback addresses (parsed as IPs) and `localhost` count as loopback, both for the
 * admin listener's DNS-rebinding Host check and for the rule that a non-loopback admin listener needs a token.
 * A name that merely starts with `127.` is a DNS name an attacker can point anywhere.
 */
import { describe, expect, it } from 'vitest';
import { isLoopback } from '../src/config/listen.js';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['127.255.255.254', true],
    ['localhost', true],
    ['LocalHost', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['[0:0:0:0:0:0:0:1]', true],
    ['::ffff:127.0.0.1', true],
    ['[::FFFF:127.1.2.3]', true],
    ['::ffff:7f00:1', true],
    // names that look like loopback addresses
    ['127.attacker.example', false],
    ['127.0.0.1.attacker.example', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.attacker.example', false],
    ['app.localhost', false],
    ['localhost.', false],
    ['127.0.0.1.', false],
    // non-canonical IPv4 spellings (browsers send the dotted quad) and brackets around IPv4
    ['127.1', false],
    ['0127.0.0.1', false],
    ['0x7f.0.0.1', false],
    ['2130706433', false],
    ['[127.0.0.1]', false],
    // other addresses
    ['0.0.0.0', false],
    ['::', false],
    ['[::]', false],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::127.0.0.1', false],
    ['::2', false],
    ['', false],
    ['[', false],
    ['[]', false],
  ])('%j → %s', (host, expected) => {
    expect(isLoopback(host)).toBe(expected);
  });
});

describe('admin.listen without a token', () => {
  const base = { upstreams: { stable: 'http://127.0.0.1:1' }, routes: [{ name: 'web', stable: 'stable' }] };
  const problems = (listen: string): string[] => {
    try {
      validateConfig({ ...base, admin: { listen } }, {});
      return [];
    } catch (error) {
      return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
    }
  };

  it.each(['127.0.0.1:9901', '127.0.0.2:9901', 'localhost:9901', '[::1]:9901', '[::ffff:127.0.0.1]:9901'])('is allowed on %s', (listen) => {
    expect(problems(listen)).toEqual([]);
  });

  it.each([
    ['127.attacker.example:9901', '127.attacker.example'],
    ['localhost.:9901', 'localhost.'],
    ['0.0.0.0:9901', '0.0.0.0'],
    [':9901', '0.0.0.0'],
    ['[::]:9901', '::'],
  ])('needs a token on %s', (listen, host) => {
    expect(problems(listen)).toEqual([`admin.token: is required when admin.listen is not a loopback address (${host})`]);
  });
});
