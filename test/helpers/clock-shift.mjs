/**
 * A controllable wall clock for a real splitgate process (`node --import <this file>`): Date.now() and `new Date()`
 * run ahead of the real clock by the milliseconds written in $SPLITGATE_TEST_CLOCK_FILE (re-read every 20 ms), so a
 * test can let hours of a release plan's bake pass in a second. Timers and the lease (performance.now) keep real
 * time, as they would on a machine whose wall clock moved; every process reading the same file moves together.
 */
import { readFileSync } from 'node:fs';

const file = process.env.SPLITGATE_TEST_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  let offset = 0;
  const read = () => {
    try {
      offset = Number(readFileSync(file, 'utf8')) || 0;
    } catch {
      // Not written yet: no shift.
    }
  };
  read();
  setInterval(read, 20).unref();
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }

    static now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = ShiftedDate;
}
