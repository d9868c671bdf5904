export function logFlagNotes(logger, table) {
    const notes = table.flagSet?.notes ?? [];
    if (notes.length > 0)
        logger.warn({ notes }, 'flags: some flags or values are not sent as defined');
}
//# sourceMappingURL=flag-notes.js.map