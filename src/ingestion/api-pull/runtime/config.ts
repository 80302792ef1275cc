// Runtime configuration of the puller: what the construct writes into the function's environment
// (never a secret: only secret ARNs and the names of the fields to read from them).

/** How the puller authenticates. */
export type AuthConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'bearer'; readonly secretArn: string; readonly tokenField: string }
  | { readonly kind: 'apiKeyHeader'; readonly secretArn: string; readonly headerName: string; readonly field: string }
  | { readonly kind: 'apiKeyQuery'; readonly secretArn: string; readonly parameterName: string; readonly field: string }
  | { readonly kind: 'basic'; readonly secretArn: string; readonly usernameField: string; readonly passwordField: string };

/** How the puller finds the next page. */
export type PaginationConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'pageNumber'; readonly parameter: string; readonly startAt: number; readonly pageSizeParameter?: string; readonly pageSize?: number }
  | { readonly kind: 'offset'; readonly offsetParameter: string; readonly limitParameter: string; readonly limit: number }
  | { readonly kind: 'cursor'; readonly cursorPath: string; readonly parameter: string }
  | { readonly kind: 'linkHeader' };

/** Format of a watermark sent to the API. */
export type WatermarkFormatConfig = 'iso8601' | 'epochSeconds' | 'epochMillis';

/** Incremental pulls: the window start (and end) sent as query parameters. */
export interface IncrementalConfig {
  readonly sinceParameter: string;
  readonly untilParameter?: string;
  /** ISO-8601 UTC instant used when no watermark was ever committed. */
  readonly initialWatermark: string;
  readonly format: WatermarkFormatConfig;
}

/** One endpoint as the puller sees it. */
export interface EndpointConfig {
  readonly name: string;
  readonly url: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly auth: AuthConfig;
  readonly pagination: PaginationConfig;
  readonly maxPages: number;
  /** JSON path (`$`, `$.data`, `$.result.items`) of the records array; undefined = not checked. */
  readonly recordsPath?: string;
  readonly incremental?: IncrementalConfig;
  /** Field identifying a record (the transform merges on it). */
  readonly recordIdField?: string;
  /** Curated table the transform merges into. */
  readonly tableName?: string;
  /** Prefix of the endpoint's raw pages in the raw bucket, ending with `/`. */
  readonly rawPrefix: string;
  /** Prefix of the endpoint's quarantine in the raw bucket, ending with `/`. */
  readonly quarantinePrefix: string;
  /** Socket idle timeout of one request (no byte for this long = timeout), ms. */
  readonly requestTimeoutMs: number;
  /** Attempts per page (first try included) for 429, 5xx, timeouts and broken bodies. */
  readonly maxAttempts: number;
  /** Longest `Retry-After` honoured, seconds; a longer one fails the run. */
  readonly maxRetryAfterSeconds: number;
}

/** Everything the puller function is configured with. */
export interface PullerConfig {
  readonly pipelineName: string;
  readonly bucket: string;
  readonly watermarkTable: string;
  readonly metricsNamespace: string;
  readonly endpoints: Record<string, EndpointConfig>;
  /** Prefix of the upload drop (`<pipeline>/_uploads/`), when there is one. */
  readonly uploadsPrefix?: string;
}

/** Name of the environment variable holding the JSON `PullerConfig`. */
export const CONFIG_ENV = 'API_PULL_CONFIG';

/** Splits a `$.a.b` path into its keys (`$` alone = the root). */
export function pathKeys(path: string): string[] {
  if (path === '$') return [];
  if (!path.startsWith('$.')) throw new Error(`JSON path "${path}" must start with "$." (or be "$")`);
  return path.slice(2).split('.');
}

/** A JSON path the construct and the puller accept: `$` or `$.key(.key)*`. */
export const JSON_PATH = /^\$(\.[A-Za-z0-9_\-]+)*$/;
