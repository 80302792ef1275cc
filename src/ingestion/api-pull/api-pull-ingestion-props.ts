import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ApiAuth } from './api-auth';
import { ApiPagination } from './api-pagination';
import { ILakehouse } from '../../core/lake';
import { QualityRule } from '../../core/quality-rules';
import { Column } from '../../lakehouse/table-props';

/** How a watermark is written into the API's query parameters. */
export enum WatermarkFormat {
  /** `2024-05-01T12:00:00Z` */
  ISO_8601 = 'iso8601',
  /** `1714564800` */
  EPOCH_SECONDS = 'epochSeconds',
  /** `1714564800000` */
  EPOCH_MILLIS = 'epochMillis',
}

/**
 * Incremental pulls: each run asks only for what changed in its window, from the last committed
 * watermark to the time the schedule fired. The watermark is kept in DynamoDB and moves only
 * after the run has landed raw and been merged into curated.
 */
export interface IncrementalPull {
  /** Query parameter carrying the window start, e.g. `since` or `updated_after`. */
  readonly sinceParameter: string;
  /**
   * Query parameter carrying the window end.
   * @default - none is sent (the API returns everything after the start)
   */
  readonly untilParameter?: string;
  /**
   * Window start of the very first run (ISO-8601 instant).
   * @default '1970-01-01T00:00:00Z'
   */
  readonly initialWatermark?: string;
  /**
   * How the instants are written.
   * @default WatermarkFormat.ISO_8601
   */
  readonly format?: WatermarkFormat;
}

/** One HTTP GET endpoint pulled on a schedule into the lake. */
export interface ApiEndpoint {
  /**
   * Name of the endpoint: lowercase letters, digits and underscores. Names its raw prefix,
   * its schedule and (by default) its curated table.
   */
  readonly name: string;
  /** `https://` URL of the endpoint (query parameters may be part of it). */
  readonly url: string;
  /** When to pull, e.g. `ScheduleExpression.rate(Duration.hours(1))`. */
  readonly schedule: scheduler.ScheduleExpression;
  /**
   * Extra query parameters sent with every request.
   * @default - none
   */
  readonly queryParameters?: { [key: string]: string };
  /**
   * Extra request headers (never credentials: use `auth`).
   * @default - none
   */
  readonly headers?: { [key: string]: string };
  /**
   * Authentication, from a Secrets Manager secret.
   * @default ApiAuth.none()
   */
  readonly auth?: ApiAuth;
  /**
   * How pages are walked.
   * @default ApiPagination.none()
   */
  readonly pagination?: ApiPagination;
  /**
   * Most pages one run may pull; a run that would need more fails with an error saying so.
   * @default 1000
   */
  readonly maxPages?: number;
  /**
   * JSON path of the records array in each page: `$` (the page is an array) or `$.key(.key)*`.
   * Every page is checked to have it; the transform explodes it into rows.
   * @default '$'
   */
  readonly recordsPath?: string;
  /**
   * Field of a record that identifies it (a dotted path for a nested field, e.g. `meta.id`). The
   * transform merges on it, so a re-run or an overlapping window updates rows instead of doubling them.
   */
  readonly recordIdField: string;
  /**
   * Curated Iceberg table the records are merged into.
   * @default - the endpoint's name
   */
  readonly tableName?: string;
  /**
   * Columns of the curated table, to register it up front (with Glue table optimizers) instead
   * of letting the first transform create it from the data.
   * @default - the transform creates the table and adds columns as new fields appear
   */
  readonly columns?: Column[];
  /**
   * Incremental pulls by a watermark.
   * @default - every run pulls everything the endpoint returns
   */
  readonly incremental?: IncrementalPull;
  /**
   * Idle timeout of one request: no byte received for this long is a timeout (retried).
   * @default Duration.seconds(30)
   */
  readonly requestTimeout?: Duration;
  /**
   * Attempts per page (the first included) for 429, 5xx, timeouts and broken bodies.
   * @default 5
   */
  readonly maxAttempts?: number;
  /**
   * Longest `Retry-After` the puller waits for; a longer one fails the run (re-run it later).
   * @default Duration.minutes(2)
   */
  readonly maxRetryAfter?: Duration;
  /**
   * How often a successful run is expected (freshness signal of the endpoint's table): whole
   * minutes from 1 minute to 1 day, or whole hours up to 7 days, as every construct accepts.
   * @default - twice the rate of a `rate()` schedule (at least 10 minutes, at most 7 days); 7 days
   * for a cron naming days of the week or month; one day for other schedules
   */
  readonly expectedInterval?: Duration;

  /**
   * Data quality rules of this endpoint's curated table (`tableName`; declare them on one endpoint when endpoints share a table).
   * Each merge run audits the table's new snapshot on an audit branch and publishes it only when
   * every blocking rule passes (docs/quality-rules.md).
   * @default - no rules: every run publishes
   */
  readonly qualityRules?: QualityRule[];
}

/** Options of the upload drop: files people put in S3 by hand, merged like pulled pages. */
export interface UploadDropOptions {
  /**
   * How often the drop is checked for new files.
   * @default ScheduleExpression.rate(Duration.minutes(15))
   */
  readonly schedule?: scheduler.ScheduleExpression;
}

/** Props of `ApiPullIngestion`. */
export interface ApiPullIngestionProps {
  /** The lake: raw pages land in its raw zone, curated Iceberg tables live in its curated zone. */
  readonly lake: ILakehouse;
  /** The endpoints to pull (at least one); they share one puller, one workflow and one transform job. */
  readonly endpoints: ApiEndpoint[];
  /**
   * Name of the pipeline: the raw prefix (`<name>/<endpoint>/`), the `Pipeline` dimension of its
   * metrics and the prefix of its resource names. 1-63 lowercase letters, digits, `-` and `_`,
   * starting with a letter (docs/conventions.md).
   * @default - the construct id in kebab-case, e.g. `ShopApi` → `shop-api`
   */
  readonly pipelineName?: string;
  /**
   * Topic told about failed runs (and successful ones when `notifyOnSuccess`).
   * @default - a new topic encrypted with the lake's key
   */
  readonly notificationTopic?: sns.ITopic;
  /**
   * Also notify when a run succeeds.
   * @default false
   */
  readonly notifyOnSuccess?: boolean;
  /**
   * An upload drop: people put CSV or JSON files under `<pipelineName>/_uploads/<endpoint>/` in
   * the raw zone; each file is merged into that endpoint's table by the same transform; a file
   * that cannot be parsed is moved to the quarantine with its reason.
   * @default - no upload drop
   */
  readonly uploadDrop?: UploadDropOptions;
  /**
   * Memory of the puller function. Pages are streamed, so this does not limit the page size.
   * @default 512
   */
  readonly pullerMemorySize?: number;
  /**
   * Timeout of one pull (one endpoint, one window, every page).
   * @default Duration.minutes(15)
   */
  readonly pullerTimeout?: Duration;
  /**
   * Glue worker type of the transform job.
   * @default 'G.1X'
   */
  readonly mergeWorkerType?: string;
  /**
   * Number of Glue workers of the transform job.
   * @default 2
   */
  readonly mergeNumberOfWorkers?: number;
  /**
   * Timeout of one transform run.
   * @default Duration.hours(1)
   */
  readonly mergeTimeout?: Duration;

  /**
   * Run the merge as Glue Flex (cheaper, may start later; `G.1X` or `G.2X` workers only).
   * @default false
   */
  readonly mergeFlex?: boolean;

  /**
   * Key of the transform job's security configuration (its CloudWatch logs and bookmarks).
   * @default - a new key with rotation
   */
  readonly jobEncryptionKey?: kms.IKey;
  /**
   * KMS key of the construct's CloudWatch log groups (its owner must allow logs.<region>.amazonaws.com to use it).
   * @default - the job key (`jobEncryptionKey` or the one the construct creates), when it is a key of this app (the construct adds the CloudWatch Logs statement
   * to its policy); CloudWatch Logs' own encryption when that key is imported
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * What happens to the watermark table, the key and the log groups when the stack is deleted.
   * @default RemovalPolicy.RETAIN, or DESTROY when the context key `cdk-lakehouse:destroyOnRemoval` is `true`
   */
  readonly removalPolicy?: RemovalPolicy;
}
