import { describe, expect, it } from 'vitest';
import { FieldNameCache } from '../src/proxy/field-names.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('response field name cache', () => {
  it('gives the name as the upstream sent it, its lower case and whether it is hop-by-hop', () => {
    const names = new FieldNameCache();
    expect(names.get(bytes('Content-Type'))).toMatchObject({ text: 'Content-Type', lower: 'content-type', hopByHop: false });
    expect(names.get(bytes('CONNECTION'))).toMatchObject({ text: 'CONNECTION', lower: 'connection', hopByHop: true });
    expect(names.get(bytes('Keep-Alive')).hopByHop).toBe(true);
    expect(names.get(bytes('X-Café')).text).toBe('X-Café');
  });

  it('answers a name seen before with the same entry, and tells apart names of one length', () => {
    const names = new FieldNameCache();
    const first = names.get(bytes('Content-Type'));
    expect(names.get(bytes('Content-Type'))).toBe(first);
    // Same length, differing only in the middle or only in case.
    expect(names.get(bytes('Content-Tipe')).text).toBe('Content-Tipe');
    expect(names.get(bytes('content-type')).text).toBe('content-type');
    expect(names.get(bytes('Content-Type'))).toBe(first);
  });

  it('keeps its own copy of the bytes: undici reuses the buffer a name was read from', () => {
    const names = new FieldNameCache();
    const socketBuffer = bytes('Server');
    names.get(socketBuffer);
    socketBuffer.write('Xerver', 'latin1');
    expect(names.get(socketBuffer).text).toBe('Xerver');
    expect(names.get(bytes('Server')).text).toBe('Server');
  });

  it('stays bounded when an upstream invents names, and still converts them right', () => {
    const names = new FieldNameCache();
    const cached = names.get(bytes('x-name-00'));
    for (let i = 1; i < 1000; i++) {
      const text = `x-n${String(i).padStart(6, '0')}`; // nine bytes, like 'x-name-00'
      expect(names.get(bytes(text)).text).toBe(text);
    }
    // The first names of that length stay cached; later ones are converted each time (fresh objects).
    expect(names.get(bytes('x-name-00'))).toBe(cached);
    const late = bytes('x-n000999');
    expect(names.get(late)).not.toBe(names.get(late));
    expect(names.get(late).text).toBe('x-n000999');
  });

  it('converts values byte-for-byte, whether the last value repeats or not', () => {
    const names = new FieldNameCache();
    const date = names.get(bytes('Date'));
    const values = ['Mon, 30 Nov 2026 16:00:00 GMT', 'Mon, 30 Nov 2026 16:00:00 GMT', 'Mon, 30 Nov 2026 16:00:01 GMT',
      'Mon, 30 Nov 2026 16:00:00 GMT', '', 'x', '', 'caf\u00e9 \u00ff', 'caf\u00e9 \u00fe', 'a'.repeat(300), 'a'.repeat(300), 'b'.repeat(300)];
    for (const value of values) expect(date.value(bytes(value))).toBe(value);
  });

  it('does not take a value from the buffer it was read from: undici reuses it', () => {
    const names = new FieldNameCache();
    const server = names.get(bytes('Server'));
    const socketBuffer = bytes('nginx/1.22.1');
    expect(server.value(socketBuffer)).toBe('nginx/1.22.1');
    socketBuffer.write('nginx/1.22.2', 'latin1');
    expect(server.value(socketBuffer)).toBe('nginx/1.22.2');
    expect(server.value(bytes('nginx/1.22.1'))).toBe('nginx/1.22.1');
  });

  it('converts the values of names it does not cache as well', () => {
    const names = new FieldNameCache();
    const long = names.get(bytes(`x-${'n'.repeat(80)}`));
    expect(long.value(bytes('one'))).toBe('one');
    expect(long.value(bytes('two'))).toBe('two');
  });
});
