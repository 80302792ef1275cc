import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { ILakehouse } from '../core/lake';
import { IDataPipeline } from '../core/pipeline';

/**
 * Alarm thresholds for a pipeline. Every field is optional; an unset field takes the
 * observability-wide value (`PipelineObservabilityProps.alarmThresholds`), then the default.
 */
export interface PipelineAlarmThresholds {
  /**
   * Whether to alarm on the pipeline's errors metric.
   * @default true
   */
  readonly alarmOnErrors?: boolean;
  /**
   * Alarm when the errors metric (as the pipeline states it) is greater than this.
   * @default 0
   */
  readonly errorsThreshold?: number;
  /**
   * Whether to alarm on the pipeline's lag metric (when it has one).
   * @default true
   */
  readonly alarmOnLag?: boolean;
  /**
   * Alarm when the lag metric is greater than this.
   * @default Duration.minutes(15)
   */
  readonly lagThreshold?: Duration;
  /**
   * Consecutive periods the lag must be above its threshold before the alarm fires (a short
   * spike during a batch is normal).
   * @default 3
   */
  readonly lagEvaluationPeriods?: number;
  /**
   * Whether to alarm on the depth of each dead-letter queue.
   * @default true
   */
  readonly alarmOnDeadLetters?: boolean;
  /**
   * Alarm when a dead-letter queue holds more visible messages than this.
   * @default 0
   */
  readonly deadLetterDepthThreshold?: number;
  /**
   * Whether to alarm on each quarantine's count.
   * @default true
   */
  readonly alarmOnQuarantine?: boolean;
  /**
   * Alarm when a quarantine count (as the pipeline states it) is greater than this.
   * @default 0
   */
  readonly quarantineThreshold?: number;
  /**
   * Whether to alarm when a dataset gets no new data within its expected interval. Missing
   * data counts as stale (treated as breaching), since no arrivals often means no datapoints.
   * @default true
   */
  readonly alarmOnStaleData?: boolean;
}

/** Thresholds for one pipeline, overriding the observability-wide ones field by field. */
export interface PipelineAlarmOverride extends PipelineAlarmThresholds {
  /** The `pipelineName` of the watched pipeline these thresholds apply to. */
  readonly pipelineName: string;
}

/** Props of `PipelineObservability`. */
export interface PipelineObservabilityProps {
  /**
   * The pipelines to watch: this library's ingestion constructs or any `IDataPipeline`
   * (see `DataPipeline`). More can be added with `addPipeline()`.
   * @default - none; add them with `addPipeline()` (at least one before synthesis)
   */
  readonly pipelines?: IDataPipeline[];
  /**
   * The lake. When given, the pipelines' logs and failure events are landed in its raw zone
   * under `_ops/` with raw tables over them, so Athena can query them.
   * @default - nothing is landed in a lake
   */
  readonly lake?: ILakehouse;
  /**
   * Whether to land the pipelines' logs and failure events in the lake. Needs `lake`.
   * @default true when `lake` is given
   */
  readonly landOpsDataInLake?: boolean;
  /**
   * Glue table name of the landed logs (raw zone database); also names their prefix
   * (`_ops/<logsTableName>/`). Two PipelineObservability on one lake need two names.
   * @default - the construct id in snake_case and `_logs`, e.g. `Ops` → `ops_logs`
   */
  readonly logsTableName?: string;
  /**
   * Glue table name of the landed failure events (raw zone database); also names their prefix
   * (`_ops/<eventsTableName>/`).
   * @default - the construct id in snake_case and `_events`, e.g. `Ops` → `ops_events`
   */
  readonly eventsTableName?: string;
  /**
   * Record S3 data events (object reads and writes) on the lake's zone buckets with a
   * CloudTrail trail landing in the raw zone under `_ops/cloudtrail/`. Needs `lake`. Data events
   * are billed per event: turn on where an audit trail of data access is required.
   * @default false
   */
  readonly cloudTrailDataEvents?: boolean;
  /**
   * Thresholds for every pipeline (each field has its own default).
   * @default - the defaults documented on `PipelineAlarmThresholds`
   */
  readonly alarmThresholds?: PipelineAlarmThresholds;
  /**
   * Per-pipeline thresholds, each naming its pipeline. A list of structs rather than a map so
   * that an override naming no watched pipeline is reported with its position, and the shape is
   * the same in every jsii language.
   * @default - none
   */
  readonly pipelineOverrides?: PipelineAlarmOverride[];
  /**
   * Email addresses subscribed to the alert topic (each confirms by email).
   * @default - none
   */
  readonly emailSubscriptions?: string[];
  /**
   * Extra actions for every alarm (e.g. a chat integration or an incident tool), besides the topic.
   * @default - only the topic
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];
  /**
   * Whether the composite "lake unhealthy" alarm also notifies when the lake is healthy again.
   * @default true
   */
  readonly notifyOnRecovery?: boolean;
  /**
   * KMS key of the alert topic. Its key policy must let CloudWatch and EventBridge use it (a key
   * created here gets that policy).
   * @default - a new key with rotation, used only by the topic
   */
  readonly topicEncryptionKey?: kms.IKey;
  /**
   * KMS key of the construct's CloudWatch log groups (its owner must allow logs.<region>.amazonaws.com to use it).
   * @default - the topic key (`topicEncryptionKey` or the one the construct creates), when it is a key of this app (the construct adds the CloudWatch Logs statement
   * to its policy); CloudWatch Logs' own encryption when that key is imported
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * Name of the alert topic. Alarms of pipelines in other stacks reach the topic by this name
   * (their stack builds the ARN with its own account and region, so it never references this
   * stack); it must be unique in the account and region, so give each stage its own.
   * @default - generated by CloudFormation when every watched alarm is in this stack; otherwise a
   *   name unique to this construct's path in the app (stage, stack and id, plus a hash)
   */
  readonly topicName?: string;
  /**
   * Name of the CloudWatch dashboard.
   * @default - generated by CloudFormation
   */
  readonly dashboardName?: string;
  /**
   * Time range the dashboard opens with.
   * @default Duration.hours(6)
   */
  readonly dashboardTimeRange?: Duration;
  /**
   * Athena workgroup of the serving layer; adds bytes-scanned and failed-query widgets.
   * @default - no Athena widgets
   */
  readonly athenaWorkGroupName?: string;
  /**
   * Retention of the log group Firehose writes its own delivery errors to.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly deliveryErrorLogRetention?: logs.RetentionDays;
  /**
   * What happens to the topic key, the landed logs and events and their log groups when they
   * leave the stack.
   * @default RemovalPolicy.RETAIN, or DESTROY when the context key `cdk-lakehouse:destroyOnRemoval` is `true`
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The alarms and rules created for one watched pipeline. */
export interface WatchedPipeline {
  /** The pipeline. */
  readonly pipeline: IDataPipeline;
  /** The thresholds applied (defaults, then observability-wide, then the pipeline's override). */
  readonly thresholds: PipelineAlarmThresholds;
  /**
   * Alarm on the errors metric.
   * @default - none when turned off
   */
  readonly errorsAlarm?: cloudwatch.Alarm;
  /**
   * Alarm on the lag metric.
   * @default - none when the pipeline has no lag metric or it is turned off
   */
  readonly lagAlarm?: cloudwatch.Alarm;
  /** One alarm per dead-letter queue (queue depth). */
  readonly deadLetterAlarms: cloudwatch.Alarm[];
  /** One alarm per quarantine (count of quarantined records). */
  readonly quarantineAlarms: cloudwatch.Alarm[];
  /** One alarm per freshness signal (no new data in the expected interval). */
  readonly freshnessAlarms: cloudwatch.Alarm[];
  /** Every alarm of this pipeline: those above plus the pipeline's own `pipelineAlarms`. */
  readonly alarms: cloudwatch.IAlarm[];
  /**
   * One EventBridge rule per failure event pattern, sending to the topic (and the lake). For a
   * pipeline in another stack the rules live in the pipeline's stack (a `WatchedBy<id>` child of the
   * pipeline), with deterministic names, so the observability stack imports nothing from it.
   */
  readonly failureRules: events.Rule[];
}
