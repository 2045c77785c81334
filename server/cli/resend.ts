// A read that got no answer is asked again. While nats-server applies an account update (an
// operator added, revoked or renewed changes an account JWT), it drops the replies of requests in
// flight through that account's imports: the CLI would wait out its whole timeout for an answer that
// is never coming. A read-only request is therefore sent again every `resendAfterMs` while none has
// answered, each ask staying open until the deadline, and the first answer wins — a slow read is
// never cut short, it only may be asked twice. Administrative verbs are never sent twice.

export interface ResendOptions {
  /** when the whole request gives up */
  timeoutMs: number;
  /** how long to wait for an answer before asking again */
  resendAfterMs: number;
  /** the error an ask ends with when nothing answered in its time (any other error ends the request at once) */
  isNoAnswer: (err: unknown) => boolean;
}

/** The first answer of `ask`, called again every `resendAfterMs` until one answers or the deadline passes. */
export function firstAnswer<T>(ask: (waitMs: number) => Promise<T>, o: ResendOptions): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let asking = 0;
    let next: NodeJS.Timeout | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(next);
      fn();
    };
    const askOnce = () => {
      next = undefined;
      const left = deadline - Date.now();
      asking++;
      ask(Math.max(left, 1)).then(
        (answer) => settle(() => resolve(answer)),
        (err: unknown) => {
          asking--;
          // Unanswered: the others may still answer. Failed otherwise (refused, no server): at once.
          if (!o.isNoAnswer(err) || (asking === 0 && next === undefined)) settle(() => reject(err));
        },
      );
      if (left > o.resendAfterMs) next = setTimeout(askOnce, o.resendAfterMs);
    };
    askOnce();
  });
}
