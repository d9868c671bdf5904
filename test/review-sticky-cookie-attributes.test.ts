/**
 * Issue 14 item 11: the sticky cookie's attributes are validated, so a config cannot emit a cookie browsers drop
 * (SameSite=None without Secure: every request re-bucketed) or inject attributes through domain or path.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { compileTable } from '../src/routing/table.js';
import { configProblems } from './helpers/config-problems.js';

function configWithCookie(cookie: Record<string, unknown>) {
  return {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 10, sticky: { key: ['header:x-user-id'], cookie: { name: 'sg_uid', ...cookie } } }],
  };
}

function problems(raw: unknown): string[] {
  return configProblems(raw);
}

function attributesOf(cookie: Record<string, unknown>): string {
  return compileTable(validateConfig(configWithCookie(cookie)), 1).routes[0].stickyCookie!.attributes;
}

describe('sticky cookie attributes', () => {
  it.each([
    ['sameSite none without secure', { sameSite: 'none' }, 'routes[0].sticky.cookie.sameSite: none requires secure: true'],
    ['sameSite none with secure false', { sameSite: 'none', secure: false }, 'routes[0].sticky.cookie.sameSite: none requires secure: true'],
    ['domain with an injected attribute', { domain: 'example.com; Path=/x' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain with a port', { domain: 'example.com:8080' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain with a space', { domain: 'example .com' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain with a control character', { domain: 'example.com\u0000' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain with an empty label', { domain: 'example..com' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain with a trailing dot', { domain: 'example.com.' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain label starting with "-"', { domain: '-example.com' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['empty domain', { domain: '' }, 'routes[0].sticky.cookie.domain: must be a host name'],
    ['domain above 253 characters', { domain: `${'a'.repeat(60)}.`.repeat(5) + 'com' }, 'routes[0].sticky.cookie.domain: must be at most 253 characters'],
    ['path with an injected attribute', { path: '/app; Domain=evil.example' }, 'routes[0].sticky.cookie.path: must start with "/"'],
    ['path with a control character', { path: '/app\r\nX: y' }, 'routes[0].sticky.cookie.path: must start with "/"'],
    ['path not starting with "/"', { path: 'app' }, 'routes[0].sticky.cookie.path: must start with "/"'],
  ])('%s is a config error at its path', (_name, cookie, expected) => {
    const lines = problems(configWithCookie(cookie));
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(expected)).toBe(true);
  });

  it.each([
    ['the defaults', {}, '; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax'],
    [
      'a parent domain with SameSite=None and Secure',
      { domain: '.example.com', path: '/app', secure: true, sameSite: 'none', maxAge: 3600 },
      '; Max-Age=3600; Path=/app; Domain=.example.com; Secure; HttpOnly; SameSite=None',
    ],
    ['a host name without a dot', { domain: 'localhost', httpOnly: false, sameSite: 'strict' }, '; Max-Age=2592000; Path=/; Domain=localhost; SameSite=Strict'],
    ['a domain with digits and hyphens', { domain: 'eu-1.shop2.example.co.uk' }, '; Max-Age=2592000; Path=/; Domain=eu-1.shop2.example.co.uk; HttpOnly; SameSite=Lax'],
    ['a path with URL punctuation', { path: "/a-b_c.d~e/%20(x)!*'=" }, "; Max-Age=2592000; Path=/a-b_c.d~e/%20(x)!*'=; HttpOnly; SameSite=Lax"],
  ])('%s serialize as before', (_name, cookie, attributes) => {
    expect(attributesOf(cookie)).toBe(attributes);
  });
});
