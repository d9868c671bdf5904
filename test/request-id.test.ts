import { describe, expect, it } from 'vitest';
import { randomRequestId } from '../src/proxy/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('are version-4 UUIDs, all different, across several refills of the random pool', () => {
    const ids = Array.from({ length: 3 * 4096 + 7 }, () => randomRequestId());
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('use every hex digit in every free position (the random bits are not stuck)', () => {
    const ids = Array.from({ length: 2000 }, () => randomRequestId());
    for (let position = 0; position < 36; position++) {
      if ([8, 13, 14, 18, 19, 23].includes(position)) continue; // dashes, the version digit, the variant digit
      expect(new Set(ids.map((id) => id[position])).size, `position ${position}`).toBe(16);
    }
  });
});
