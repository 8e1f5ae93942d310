/**
 * A bounded sleep that an event can cut short: the waiting side sleeps up to a deadline, the event
 * side (data arrived, the stream closed) calls notify(). For helpers that wait for what a socket or a
 * stream delivers without polling.
 */
export class Wakeup {
  private wake: (() => void) | undefined;

  /** Ends the current sleep, if any. */
  notify(): void {
    this.wake?.();
  }

  /** Resolves after `ms`, or at the next notify(), whichever comes first. */
  async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }
}
