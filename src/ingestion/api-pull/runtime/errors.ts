/**
 * Error names the state machine reads (`States` matches `Error` on the Lambda error's name):
 * bad input and client errors fail at once, transient ones may be retried by the workflow.
 */
export const ERROR_NAMES = {
  /** A body that is not what was expected (not JSON, HTML, empty, no records array, repeating cursor). */
  badInput: 'ApiPull.BadInput',
  /** A 4xx other than 429, or a redirect: retrying gives the same answer. */
  client: 'ApiPull.ClientError',
  /** Configuration or secret problems (missing field, unknown endpoint). */
  config: 'ApiPull.ConfigError',
  /** 429s, 5xx, timeouts and broken bodies that outlasted the puller's own retries. */
  transient: 'ApiPull.Transient',
  /** The max-pages guard stopped a run that had more pages. */
  maxPages: 'ApiPull.MaxPagesExceeded',
} as const;

/** An error with one of the names above. */
export class PullError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
