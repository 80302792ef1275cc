import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { KafkaSource } from './kafka-source';
import { ILakehouse } from '../../core/lake';
import { QualityRule } from '../../core/quality-rules';
import { Column } from '../../lakehouse/table-props';

/** Which JSON fields of an event hold its id, type, subtype and time. */
export interface EventFields {
  /**
   * Field of the event id (dots reach into nested objects: `meta.id`).
   * @default 'event_id'
   */
  readonly id?: string;
  /**
   * Field of the event type: the first partition (`event_type=`).
   * @default 'event_type'
   */
  readonly type?: string;
  /**
   * Field of the event subtype: the second partition (`event_subtype=`); events without one go to
   * `event_subtype=none`.
   * @default 'event_subtype'
   */
  readonly subtype?: string;
  /**
   * Field of the event time, an ISO-8601 string; its date gives the `year=/month=/day=` partitions.
   * @default 'event_time'
   */
  readonly time?: string;
}

/** Options for provisioned dedup-table capacity with auto scaling. */
export interface ProvisionedDedupCapacityOptions {
  /** Write capacity units the table never goes below. */
  readonly minWriteCapacity: number;
  /** Write capacity units the table never goes above. */
  readonly maxWriteCapacity: number;
  /**
   * Target utilization of the write capacity, in percent (20-90).
   * @default 70
   */
  readonly targetUtilizationPercent?: number;
  /**
   * Read capacity units (the handler does not read; the table needs at least 1).
   * @default 1
   */
  readonly readCapacity?: number;
}

/**
 * How the dedup table pays for writes. On-demand suits spiky or small streams; provisioned with
 * auto scaling is cheaper for a steady stream (see the cost model in docs/streaming-dedup-ingestion.md).
 */
export class DedupCapacity {
  /** Pay per request (the default). */
  public static onDemand(): DedupCapacity {
    return new DedupCapacity('on-demand');
  }

  /**
   * Provisioned write capacity with target-tracking auto scaling.
   * @param options the write capacity bounds and target utilization
   */
  public static provisioned(options: ProvisionedDedupCapacityOptions): DedupCapacity {
    return new DedupCapacity('provisioned', options);
  }

  private constructor(
    /** `on-demand` or `provisioned`. */
    public readonly mode: string,
    /** The provisioned settings, when provisioned. */
    public readonly provisionedOptions?: ProvisionedDedupCapacityOptions,
  ) {}
}

/** Props of `StreamingDedupIngestion`. */
export interface StreamingDedupIngestionProps {
  /** The lake: events land in its raw zone and its curated Iceberg table. */
  readonly lake: ILakehouse;

  /**
   * Dataset name: the raw prefix (`<dataset>/`), the raw and curated table names, the quarantine
   * prefix (`_quarantine/<dataset>/`). A Glue name. Two pipelines on one lake need two names.
   * @default - the construct id in snake_case, e.g. `ClickEvents` → `click_events`
   */
  readonly datasetName?: string;

  /**
   * Name of the pipeline: the `Pipeline` dimension of its metrics, its dashboards and alarms, and
   * the prefix of its resource names. 1-63 lowercase letters, digits, `-` and `_`, starting with a
   * letter (docs/conventions.md).
   * @default - the construct id in kebab-case, e.g. `ClickEvents` → `click-events`
   */
  readonly pipelineName?: string;

  /**
   * An existing Kinesis stream to read. Give either this or the stream settings below, not both.
   * @default - a new stream is created
   */
  readonly stream?: kinesis.IStream;

  /**
   * Read events from a Kafka topic (Amazon MSK with IAM auth, or self-managed Kafka with SASL/SCRAM
   * or mTLS) through Lambda's Kafka event source mapping, into the same dedup, raw and curated path.
   * The construct still creates its Kinesis stream: replays go there (docs/streaming-dedup-ingestion.md, Kafka).
   * @default - events arrive on the Kinesis stream only
   */
  readonly kafka?: KafkaSource;

  /**
   * Capacity mode of the created stream.
   * @default kinesis.StreamMode.ON_DEMAND
   */
  readonly streamMode?: kinesis.StreamMode;

  /**
   * Shards of the created stream, when `streamMode` is `PROVISIONED`.
   * @default 1
   */
  readonly shardCount?: number;

  /**
   * Retention of the created stream (24 hours to 365 days).
   * @default Duration.hours(24)
   */
  readonly streamRetention?: Duration;

  /**
   * Key of the created stream.
   * @default - the lake's key
   */
  readonly streamEncryptionKey?: kms.IKey;
  /**
   * KMS key of the construct's CloudWatch log groups (its owner must allow logs.<region>.amazonaws.com to use it).
   * @default - the lake's key, when it is a key of this app (the construct adds the CloudWatch Logs statement
   * to its policy); CloudWatch Logs' own encryption when that key is imported
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * Drop duplicates with the dedup Lambda and DynamoDB. `false` is the "no dedup or transform
   * needed" option: Firehose reads the stream directly (no Lambda, no table) and the curated
   * MERGE alone removes duplicates.
   * @default true
   */
  readonly deduplicate?: boolean;

  /**
   * How long an event id is remembered: the DynamoDB TTL of a claim.
   * @default Duration.hours(24)
   */
  readonly dedupWindow?: Duration;

  /**
   * Capacity of the dedup table.
   * @default DedupCapacity.onDemand()
   */
  readonly dedupCapacity?: DedupCapacity;

  /**
   * Which JSON fields hold the event id, type, subtype and time.
   * @default - event_id, event_type, event_subtype, event_time
   */
  readonly eventFields?: EventFields;

  /**
   * Known event types: Athena projects them (`enum`) so queries need not name one.
   * @default - injected projection: queries filter on `event_type` and `event_subtype`
   */
  readonly eventTypes?: string[];

  /**
   * Further columns of the raw table (the id, type, subtype and time columns are added).
   * @default - none
   */
  readonly rawColumns?: Column[];

  /**
   * Records per Lambda invocation (1-10,000).
   * @default 500
   */
  readonly batchSize?: number;

  /**
   * How long Lambda gathers records before invoking (0-300 s).
   * @default Duration.seconds(1)
   */
  readonly maxBatchingWindow?: Duration;

  /**
   * Concurrent batches per shard (1-10).
   * @default 1
   */
  readonly parallelizationFactor?: number;

  /**
   * Retries of a failing batch before its pointer goes to the on-failure queue (0-10,000).
   * @default 10
   */
  readonly retryAttempts?: number;

  /**
   * Oldest record the Lambda still retries (60 s to 7 days; below the stream retention, so the
   * on-failure queue's pointer still finds the record).
   * @default Duration.hours(6)
   */
  readonly maxRecordAge?: Duration;

  /**
   * Lambda memory of the dedup handler.
   * @default 512
   */
  readonly dedupMemorySize?: number;

  /**
   * Firehose buffer interval (0-900 s).
   * @default Duration.seconds(300)
   */
  readonly bufferInterval?: Duration;

  /**
   * Firehose buffer size (64-128 MiB with dynamic partitioning).
   * @default Size.mebibytes(128)
   */
  readonly bufferSize?: Size;

  /**
   * When the curated merge job runs (EventBridge Scheduler, like every merge of the library; a
   * start it cannot deliver goes to the merge's dead-letter queue, which has an alarm).
   * @default ScheduleExpression.cron({ minute: '15' }) - hourly at :15 (UTC)
   */
  readonly mergeSchedule?: scheduler.ScheduleExpression;

  /**
   * Run the merge as Glue Flex (cheaper, may start later): right for an hourly schedule.
   * @default true
   */
  readonly mergeFlex?: boolean;

  /**
   * Glue worker type of the merge job (`G.1X` or `G.2X` while the merge runs as Glue Flex).
   * @default 'G.1X'
   */
  readonly mergeWorkerType?: string;

  /**
   * Glue workers of the merge job (2 or more).
   * @default 2
   */
  readonly mergeNumberOfWorkers?: number;

  /**
   * Longest a merge run may take (whole minutes, at most 7 days).
   * @default Duration.hours(2)
   */
  readonly mergeTimeout?: Duration;

  /**
   * How much earlier than the last run's start the merge reads raw objects again (late S3
   * listings, clock skew); re-read events change nothing.
   * @default Duration.minutes(30)
   */
  readonly mergeOverlap?: Duration;

  /**
   * Most events one replay invocation sends (it answers where to continue).
   * @default 100000
   */
  readonly replayMaxEvents?: number;

  /**
   * How often new raw objects are expected; none within it raises the freshness signal. Whole
   * minutes from 1 minute to 1 day, or whole hours up to 7 days.
   * @default Duration.hours(1)
   */
  readonly expectedInterval?: Duration;

  /**
   * Create the speed view: an Athena view (in the curated database) over the curated table and the raw
   * events the merge has not written yet, each event id once (docs/streaming-dedup-ingestion.md, "Speed view").
   * @default true
   */
  readonly speedView?: boolean;

  /**
   * Name of the speed view. A Glue name.
   * @default - the dataset name + `_live`
   */
  readonly speedViewName?: string;

  /**
   * How many days of raw partitions (by event date, UTC, today included) the speed view reads: an event
   * not merged yet with an older event date shows in the view once the merge wrote it. Whole days, 1 to 31.
   * @default Duration.days(2)
   */
  readonly speedViewLookback?: Duration;

  /**
   * The living time of the dataset's raw events: an S3 lifecycle rule on the raw prefix (`<datasetName>/`)
   * expires objects this long after they were written (noncurrent versions one day later). Whole days; it
   * must exceed the merge schedule's longest gap + mergeOverlap + dedupWindow, so every event is merged
   * before it expires. Needs a raw bucket the lake created (not `existingBucket`). The quarantine
   * prefixes are not touched.
   * @default - raw events are kept (the raw zone's own lifecycle applies)
   */
  readonly rawRetention?: Duration;

  /**
   * What happens to the stream, the dedup table, the event source's dead-letter queue and the log
   * groups when they leave the stack.
   * @default RemovalPolicy.RETAIN, or DESTROY when the context key `cdk-lakehouse:destroyOnRemoval` is `true`
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Data quality rules of the curated table (`datasetName`: one row per event id).
   * Each merge run audits the table's new snapshot on an audit branch and publishes it only when
   * every blocking rule passes (docs/quality-rules.md).
   * @default - no rules: every run publishes
   */
  readonly qualityRules?: QualityRule[];
}
