/**
 * Flag evaluation counts as plain numbers, by (flag, variant, reason), for splitgate_flag_evaluations_total. Cells
 * are handed out when a flag set is compiled, so counting an evaluation is one increment; prom-client reads them
 * at scrape time. Label values come from the flag definitions and a fixed reason list only (bounded cardinality).
 */
import type { CountEntry } from '../metrics/metrics.js';

export type FlagLabels = 'flag' | 'variant' | 'reason';

export class FlagCountBook {
  readonly #cells = new Map<string, CountEntry<FlagLabels>>();

  /** The cell of one (flag, variant, reason); the same cell for the same labels across reloads. */
  cell(flag: string, variant: string, reason: string): CountEntry<FlagLabels> {
    const key = `${flag}\n${variant}\n${reason}`;
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = { labels: { flag, variant, reason }, value: 0 };
      this.#cells.set(key, cell);
    }
    return cell;
  }

  all(): Iterable<CountEntry<FlagLabels>> {
    return this.#cells.values();
  }
}
