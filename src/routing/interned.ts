/**
 * The interned copy of a string. V8 interns property names; a keyed read with an interned name is a pointer
 * comparison in its property cache, where a fresh string (one read from a request or a config file) is hashed
 * and looked up in the string table first. Header names that routing stores and reads by go through this once,
 * when a table is compiled.
 */
export function interned(text: string): string {
  return Object.keys({ [text]: 0 })[0];
}
