/** The flag set's notes (keys sent under another name, values the header cannot carry), logged once per config. */
import type { Logger } from '../log.js';
import type { RoutingTable } from '../routing/table.js';

export function logFlagNotes(logger: Logger, table: RoutingTable): void {
  const notes = table.flagSet?.notes ?? [];
  if (notes.length > 0) logger.warn({ notes }, 'flags: some flags or values are not sent as defined');
}
