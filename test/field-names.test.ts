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
});
