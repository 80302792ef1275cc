import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, IConstruct } from 'constructs';
import { validateFreshnessInterval } from './freshness';
import { propError } from './validation';

/**
 * What kind of pipeline this is. Observability uses it to add the widgets particular to a kind;
 * a user's own pipeline is `PipelineKind.CUSTOM` or a kind of its own via `PipelineKind.of()`.
 */
export class PipelineKind {
  /** Streaming ingestion (e.g. Kinesis → Lambda → Firehose). */
  public static readonly STREAMING = new PipelineKind('streaming');
  /** Change data capture (e.g. DMS → merge job). */
  public static readonly CDC = new PipelineKind('cdc');
  /** Scheduled pulls from an HTTP API. */
  public static readonly API_PULL = new PipelineKind('api-pull');
  /** Query serving and scheduled reports. */
  public static readonly SERVING = new PipelineKind('serving');
  /** A user's own pipeline. */
  public static readonly CUSTOM = new PipelineKind('custom');

  /**
   * A kind of the user's own naming.
   * @param name the name of the kind
   */
  public static of(name: string): PipelineKind {
    return new PipelineKind(name);
  }

  private constructor(
    /** The kind's name. */
    public readonly name: string,
  ) {}
}

/** A metric with the label it carries on dashboards. */
export interface LabeledMetric {
  /** Short human label, e.g. "Iterator age". */
  readonly label: string;
  /** The metric. */
  readonly metric: cloudwatch.IMetric;
}

/**
 * The key metrics of a pipeline. Each is a metric whose statistic and period already say how to
 * read it, so observability can chart and alarm on it without knowing the pipeline.
 */
export interface PipelineMetrics {
  /** Units of work done per period (records, objects, rows, runs). */
  readonly throughput: cloudwatch.IMetric;
  /** Failed units per period. Any value above zero means something needs a look. */
  readonly errors: cloudwatch.IMetric;
  /**
   * How far processing is behind its source, in milliseconds (e.g. iterator age, CDC latency).
   *
   * @default - the pipeline has no lag measure
   */
  readonly lagMillis?: cloudwatch.IMetric;
  /**
   * Metrics particular to this pipeline kind, shown in its dashboard section.
   *
   * @default - none
   */
  readonly additional?: LabeledMetric[];
}

/**
 * What a curated table's write-audit-publish merge tells about it (docs/quality-rules.md): audits
 * passed and failed, and how old its newest data was when it was published.
 */
export interface QualitySignals {
  /**
   * Audits that passed, so a new snapshot was published to main (a Sum per period).
   * @default - the dataset is not audited
   */
  readonly auditsPassed?: cloudwatch.IMetric;
  /**
   * Audits that failed, so main was left as it was (a Sum per period).
   * @default - the dataset is not audited
   */
  readonly auditsFailed?: cloudwatch.IMetric;
  /**
   * Age of the newest data of the last published snapshot when it was published, in seconds
   * (a Maximum per period).
   * @default - not measured
   */
  readonly publishedDataAge?: cloudwatch.IMetric;
}

/**
 * A freshness signal: a metric that counts arrivals of new data in one dataset, and how often
 * new data is expected. No arrival within the interval means the dataset went stale. A curated
 * table merged by a `MergeJob` adds its quality signals (`MergeJob.qualitySignals()`).
 */
export interface FreshnessSignal extends QualitySignals {
  /** The dataset (usually a curated table) this signal watches. */
  readonly dataset: string;
  /** Count of new data arrivals (rows, files, commits); its Sum over the interval is checked. */
  readonly arrivals: cloudwatch.IMetric;
  /**
   * How often new data is expected. Every construct of the library accepts the same range:
   * whole minutes from 1 minute to 1 day, or whole hours up to 7 days (the longest span a
   * CloudWatch alarm evaluates; see docs/multi-stack.md).
   */
  readonly expectedInterval: Duration;
}

/**
 * An S3 prefix where a pipeline puts input it could not process, with the reason, and a metric
 * counting what went there.
 */
export interface QuarantineLocation {
  /** Bucket of the quarantine. */
  readonly bucket: s3.IBucket;
  /** Prefix inside the bucket (see `LakeLayout.quarantinePrefix`). */
  readonly prefix: string;
  /** Count of records quarantined per period. */
  readonly count: cloudwatch.IMetric;
}

/**
 * The pipeline contract. Every ingestion construct implements it, and `PipelineObservability`
 * watches anything that does, a user's own pipelines included (see `DataPipeline` for a
 * ready-made implementation from plain values).
 */
export interface IDataPipeline extends IConstruct {
  /** Human-readable unique name of the pipeline (dashboard section title, alarm prefix). */
  readonly pipelineName: string;
  /** What kind of pipeline this is. */
  readonly pipelineKind: PipelineKind;
  /** Throughput, errors, lag and kind-specific metrics. */
  readonly pipelineMetrics: PipelineMetrics;
  /** Per-dataset freshness signals (may be empty). */
  readonly freshness: FreshnessSignal[];
  /** Queues that receive what failed asynchronously (may be empty). */
  readonly deadLetterQueues: sqs.IQueue[];
  /** Where bad input is kept, with counts (may be empty). */
  readonly quarantines: QuarantineLocation[];
  /** Alarms the pipeline raises itself (may be empty); observability routes and composes them. */
  readonly pipelineAlarms: cloudwatch.IAlarm[];
  /**
   * EventBridge patterns that mean a run of this pipeline failed (Glue job FAILED, Step
   * Functions execution FAILED, DMS task stopped...). Observability turns them into alerts.
   */
  readonly failureEvents: events.EventPattern[];
  /** Log groups of the pipeline's compute, to be landed in the lake (may be empty). */
  readonly logGroups: logs.ILogGroup[];
}

/** Plain values that describe a pipeline; see `DataPipeline`. */
export interface DataPipelineProps {
  /** Unique human-readable name. */
  readonly pipelineName: string;
  /**
   * What kind of pipeline this is.
   * @default PipelineKind.CUSTOM
   */
  readonly pipelineKind?: PipelineKind;
  /** Throughput, errors, lag and kind-specific metrics. */
  readonly metrics: PipelineMetrics;
  /**
   * Freshness signals.
   * @default - none
   */
  readonly freshness?: FreshnessSignal[];
  /**
   * Dead-letter queues.
   * @default - none
   */
  readonly deadLetterQueues?: sqs.IQueue[];
  /**
   * Quarantine locations.
   * @default - none
   */
  readonly quarantines?: QuarantineLocation[];
  /**
   * The pipeline's own alarms.
   * @default - none
   */
  readonly alarms?: cloudwatch.IAlarm[];
  /**
   * EventBridge patterns that mean a run failed.
   * @default - none
   */
  readonly failureEvents?: events.EventPattern[];
  /**
   * Log groups of the pipeline.
   * @default - none
   */
  readonly logGroups?: logs.ILogGroup[];
}

/**
 * Describes an existing pipeline (one this library did not build) through the pipeline
 * contract, so `PipelineObservability` can watch it. Creates no AWS resources.
 *
 * @example
 * new DataPipeline(this, 'Nightly', {
 *   pipelineName: 'nightly-export',
 *   metrics: {
 *     throughput: new cloudwatch.Metric({ namespace: 'MyTeam', metricName: 'RowsExported' }),
 *     errors: new cloudwatch.Metric({ namespace: 'MyTeam', metricName: 'ExportErrors' }),
 *   },
 * });
 */
export class DataPipeline extends Construct implements IDataPipeline {
  public readonly pipelineName: string;
  public readonly pipelineKind: PipelineKind;
  public readonly pipelineMetrics: PipelineMetrics;
  public readonly freshness: FreshnessSignal[];
  public readonly deadLetterQueues: sqs.IQueue[];
  public readonly quarantines: QuarantineLocation[];
  public readonly pipelineAlarms: cloudwatch.IAlarm[];
  public readonly failureEvents: events.EventPattern[];
  public readonly logGroups: logs.ILogGroup[];

  constructor(scope: Construct, id: string, props: DataPipelineProps) {
    super(scope, id);
    if (!props.pipelineName || props.pipelineName.trim() === '') {
      throw propError('DataPipeline', 'pipelineName', 'it is empty', 'give the pipeline a unique, human-readable name');
    }
    (props.freshness ?? []).forEach((f, j) => validateFreshnessInterval('DataPipeline', `freshness[${j}].expectedInterval`, f.expectedInterval));
    this.pipelineName = props.pipelineName;
    this.pipelineKind = props.pipelineKind ?? PipelineKind.CUSTOM;
    this.pipelineMetrics = props.metrics;
    this.freshness = props.freshness ?? [];
    this.deadLetterQueues = props.deadLetterQueues ?? [];
    this.quarantines = props.quarantines ?? [];
    this.pipelineAlarms = props.alarms ?? [];
    this.failureEvents = props.failureEvents ?? [];
    this.logGroups = props.logGroups ?? [];
  }
}
