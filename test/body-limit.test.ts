/**
 * The chunked-body limit's stream: a limit tripped after its consumer (undici) stopped listening is no unhandled
 * 'error' event (that took the process down once under the request fuzz on Node 24).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyLimit } from '../src/proxy/client-limits.js';

describe('BodyLimit', () => {
  it('passes a body within the limit through unchanged', async () => {
    const source = new PassThrough();
    const limited = new BodyLimit(source, 8);
    const chunks: Buffer[] = [];
    limited.on('data', (chunk: Buffer) => chunks.push(chunk));
    source.end(Buffer.from('12345678'));
    await new Promise((done) => limited.once('end', done));
    expect(Buffer.concat(chunks).toString()).toBe('12345678');
  });

  it('errors with the limit past it, with nobody else listening, and the process carries on', async () => {
    const source = new PassThrough();
    const limited = new BodyLimit(source, 4);
    limited.resume();
    source.write(Buffer.alloc(10));
    await new Promise((done) => limited.once('close', done));
    expect((limited.errored as { code?: string } | null)?.code).toBe('SG_BODY_TOO_LARGE');
  });
});
