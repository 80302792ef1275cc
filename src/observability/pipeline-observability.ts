import { ArnFormat, CfnResource, Duration, Lazy, Names, RemovalPolicy, Stack, Stage, Token } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as logs_destinations from 'aws-cdk-lib/aws-logs-destinations';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { failureMessage, lakeEventRecord } from './event-messages';
import { kindProfile } from './kind-profiles';
import {
  PipelineAlarmThresholds,
  PipelineObservabilityProps,
  WatchedPipeline,
} from './pipeline-observability-props';
import { PlainReferences } from './plain-references';
import { addToKeyPolicy } from '../core/access';
import { LakehouseDeployRules } from '../core/deploy-rules';
import { freshnessIntervalProblem, freshnessWindow } from '../core/freshness';
import { ILakehouse, LakeLayout } from '../core/lake';
import { lakeLogGroup } from '../core/log-encryption';
import { acknowledgeInlinePolicies, escapeRegex, suppressNag } from '../core/nag';
import { GLUE_NAME_RULE, sanitizeName, stackScopedResourceName } from '../core/naming';
import { IDataPipeline, PipelineMetrics } from '../core/pipeline';
import { resolveRemovalPolicy } from '../core/removal';
import { addOrReportStatement, reportStatement } from '../core/resource-policy';
import { propError, validateGlueName } from '../core/validation';
import { PartitionProjection } from '../lakehouse/partition-projection';
import { RawTable } from '../lakehouse/raw-table';

const NAME = 'PipelineObservability';

/** The documented defaults of `PipelineAlarmThresholds`, in one place. */
const DEFAULT_THRESHOLDS: Required<PipelineAlarmThresholds> = {
  alarmOnErrors: true,
  errorsThreshold: 0,
  alarmOnLag: true,
  lagThreshold: Duration.minutes(15),
  lagEvaluationPeriods: 3,
  alarmOnDeadLetters: true,
  deadLetterDepthThreshold: 0,
  alarmOnQuarantine: true,
  quarantineThreshold: 0,
  alarmOnStaleData: true,
};

/** A composite alarm rule and an alarm status widget both stop at 100 alarms. */
const MAX_ALARMS = 100;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * One place to see that the lake is healthy, and to be told when it is not.
 *
 * Watches any number of pipelines (this library's or a user's own implementing
 * `IDataPipeline`) and deploys:
 * - one CloudWatch dashboard: lake health at the top, then a section per pipeline with
 *   throughput, errors and failure events, lag, freshness, dead-letter and quarantine depth,
 *   and the metrics particular to its kind;
 * - alarms with defaults (errors > 0, lag > 15 min for 3 periods, dead letters > 0,
 *   quarantined > 0, no new data within a dataset's interval), each overridable per pipeline,
 *   and a composite "lake unhealthy" alarm;
 * - one KMS-encrypted SNS topic all alarms and failure events go to, with optional email
 *   subscriptions and extra alarm actions;
 * - EventBridge rules turning each pipeline's failure events (Glue, Step Functions, DMS...)
 *   into readable alerts;
 * - with a lake: the pipelines' logs and failure events landed in the raw zone under `_ops/`
 *   (Firehose, GZIP, the lake's key) with raw tables over them, and optionally CloudTrail data
 *   events on the lake's buckets.
 *
 * Limits: 100 alarms in all (a composite alarm rule and an alarm status widget stop there;
 * split the pipelines over two instances beyond that); a log group takes at most two
 * subscription filters, so a group already subscribed twice cannot be landed.
 *
 * @example
 * declare const lake: LakehouseTier;
 * declare const orders: IDataPipeline;
 *
 * new PipelineObservability(this, 'Observability', {
 *   pipelines: [orders],
 *   lake,
 *   emailSubscriptions: ['data-oncall@example.com'],
 *   pipelineOverrides: [{ pipelineName: orders.pipelineName, lagThreshold: Duration.minutes(30) }],
 * });
 */
export class PipelineObservability extends Construct {
  /** The alert topic (KMS-encrypted, TLS only) every alarm and failure event is sent to. */
  public readonly topic: sns.Topic;
  /** The key of the alert topic. */
  public readonly topicEncryptionKey: kms.IKey;
  /** What happens to the topic key and the landed ops data (log groups, tables) when they leave the stack. */
  public readonly removalPolicy: RemovalPolicy;
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /**
   * In ALARM when any alarm of this stack is: every alarm this construct creates for the watched
   * pipelines, and the pipelines' own alarms when they live in this stack. A pipeline's own alarms in
   * another stack notify the topic themselves and are on the dashboard's status widget, but are not
   * named here (CloudWatch would then refuse to delete or replace them before this stack changes).
   */
  public readonly lakeUnhealthyAlarm: cloudwatch.CompositeAlarm;
  /** The watched pipelines with their alarms and rules, in the order they were added. */
  public readonly watchedPipelines: WatchedPipeline[] = [];
  /** Dead-letter queue of the failure rules' targets: an alert that could not be delivered lands here. */
  public readonly eventTargetDeadLetterQueue: sqs.Queue;
  /** Alarm on `eventTargetDeadLetterQueue` holding any message. */
  public readonly undeliveredAlertsAlarm: cloudwatch.Alarm;
  /**
   * The Firehose landing the pipelines' logs in the raw zone.
   * @default - none without a lake
   */
  public readonly logDeliveryStream?: firehose.IDeliveryStream;
  /**
   * The Firehose landing the pipelines' failure events in the raw zone.
   * @default - none without a lake
   */
  public readonly eventDeliveryStream?: firehose.IDeliveryStream;
  /**
   * Raw table over the landed logs (one row per CloudWatch Logs batch, events in `logevents`).
   * @default - none without a lake
   */
  public readonly logsTable?: RawTable;
  /**
   * Raw table over the landed failure events.
   * @default - none without a lake
   */
  public readonly eventsTable?: RawTable;
  /**
   * The role CloudWatch Logs assumes to put log events into `logDeliveryStream`.
   * @default - none without a lake
   */
  public readonly logSubscriptionRole?: iam.Role;
  /** The subscription filters sending the pipelines' log groups to the lake. */
  public readonly logSubscriptions: logs.SubscriptionFilter[] = [];
  /**
   * The trail recording S3 data events on the lake's buckets.
   * @default - none unless `cloudTrailDataEvents`
   */
  public readonly trail?: cloudtrail.Trail;
  /**
   * Bytes scanned by the Athena workgroup (a search expression, for dashboards).
   * @default - none without `athenaWorkGroupName`
   */
  public readonly athenaBytesScanned?: cloudwatch.IMetric;
  /**
   * Failed queries of the Athena workgroup (a search expression, for dashboards).
   * @default - none without `athenaWorkGroupName`
   */
  public readonly athenaFailedQueries?: cloudwatch.IMetric;

  private readonly props: PipelineObservabilityProps;
  private readonly alarmActions: cloudwatch.IAlarmAction[];
  /** Every alarm shown and composed; read lazily at synthesis, so later pipelines are included. */
  private readonly healthAlarms: cloudwatch.IAlarm[] = [];
  /**
   * Every alarm shown on the status widget: `healthAlarms` and the pipelines' own alarms of other
   * stacks. Those are not in the composite: CloudWatch refuses to delete an alarm a composite names
   * ("Cannot delete ... as there are composite alarm(s) depending on it") and to save a composite
   * naming an alarm that does not exist yet, so a composite naming another stack's alarms would tie
   * the two stacks' deploys together again. They notify the topic themselves.
   */
  private readonly statusAlarms: cloudwatch.IAlarm[] = [];
  private readonly subscribedLogGroups = new Set<string>();
  /** The alert topic's name (set on the topic when `topicName` is given or another stack needs it). */
  private readonly alertTopicName: string;
  private topicNamedForOtherStacks = false;
  /** Turns references to other stacks' resources into plain strings (no `Fn::ImportValue`). */
  private readonly plain = new PlainReferences(this);
  /** ARNs of the failure rules this instance created in pipelines' own stacks (allowed on the topic and the DLQ). */
  private readonly remoteRuleArns: string[] = [];
  private readonly remoteRuleNames = new Map<events.Rule, string>();
  private readonly remoteScopes = new Map<IDataPipeline, Construct>();
  private eventStreamCfn?: firehose.CfnDeliveryStream;

  constructor(scope: Construct, id: string, props: PipelineObservabilityProps = {}) {
    super(scope, id);
    this.props = props;
    validateProps(props, id);
    LakehouseDeployRules._applyTo(this);
    this.removalPolicy = resolveRemovalPolicy(this, props.removalPolicy);

    // The topic: its own key, since CloudWatch and EventBridge must be allowed to use it and the
    // lake's data key should not be widened for alerts.
    this.topicEncryptionKey = props.topicEncryptionKey ?? new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the lake alert topic',
      enableKeyRotation: true,
      removalPolicy: this.removalPolicy,
    });
    addToKeyPolicy(this, this.topicEncryptionKey, new iam.PolicyStatement({
      sid: 'AlarmsAndEventsPublishToTheAlertTopic',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
    }));
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Lake alerts',
      masterKey: this.topicEncryptionKey,
      enforceSSL: true,
    });
    // enforceSSL writes a topic policy, which replaces SNS's default one: CloudWatch alarm actions
    // (published as cloudwatch.amazonaws.com) need their own allow, for alarms of this account.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [this.topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
      },
    }));
    // Unique per stage and app (the construct path, hashed); set on the topic only when an alarm
    // of another stack needs the topic's ARN without a cross-stack reference.
    this.alertTopicName = props.topicName ?? Names.uniqueResourceName(this.topic, { maxLength: 256, separator: '-' });
    (this.topic.node.defaultChild as sns.CfnTopic).topicName = Lazy.string({
      produce: () => (props.topicName !== undefined || this.topicNamedForOtherStacks ? this.alertTopicName : undefined),
    });
    for (const email of props.emailSubscriptions ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    this.alarmActions = [new cw_actions.SnsAction(this.topic), ...(props.alarmActions ?? [])];

    // Alerts EventBridge could not deliver are kept, and alarmed on, rather than lost.
    this.eventTargetDeadLetterQueue = new sqs.Queue(this, 'UndeliveredAlerts', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: this.removalPolicy,
    });
    suppressNag(this.eventTargetDeadLetterQueue, [{
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge failure rules\' targets (cdk-nag only '
        + 'recognises SQS and Lambda redrive); it is alarmed on and has no consumer that could fail.',
    }]);
    this.undeliveredAlertsAlarm = this.newAlarm(this, 'UndeliveredAlertsAlarm', {
      metric: this.eventTargetDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'Failure alerts EventBridge could not deliver are waiting in the undelivered-alerts queue.',
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: props.dashboardTimeRange ?? Duration.hours(6),
    });
    LakehouseDeployRules._nameOwner(this.dashboard, this, NAME, 'dashboardName');
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: '# Lake health\nEvery alarm of every watched pipeline. The composite "lake unhealthy" alarm is in ALARM when any of them is; alerts go to the lake alert topic.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({
      title: 'Lake health',
      alarms: this.statusAlarms,
      width: 24,
      height: 6,
      sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
    }));

    // The composite rule is rendered at synthesis so pipelines added later are part of it.
    this.lakeUnhealthyAlarm = new cloudwatch.CompositeAlarm(this, 'LakeUnhealthy', {
      alarmDescription: 'The lake is unhealthy: at least one pipeline alarm is in ALARM. See the lake dashboard.',
      alarmRule: cloudwatch.AlarmRule.fromString(Lazy.string({
        produce: () => cloudwatch.AlarmRule.anyOf(
          ...this.healthAlarms.map((a) => cloudwatch.AlarmRule.fromAlarm(a, cloudwatch.AlarmState.ALARM)),
        ).renderAlarmRule(),
      })),
    });
    this.lakeUnhealthyAlarm.addAlarmAction(...this.alarmActions);
    acknowledgeInlinePolicies(this, 'PipelineObservability (Firehose, log-subscription and event-target roles)');
    if (props.notifyOnRecovery ?? true) {
      this.lakeUnhealthyAlarm.addOkAction(...this.alarmActions);
    }

    if (props.athenaWorkGroupName !== undefined) {
      const workGroup = props.athenaWorkGroupName;
      this.athenaBytesScanned = new cloudwatch.MathExpression({
        expression: `SUM(SEARCH('{AWS/Athena,QueryState,QueryType,WorkGroup} MetricName="ProcessedBytes" WorkGroup="${workGroup}"', 'Sum', 300))`,
        label: 'Bytes scanned',
        period: Duration.minutes(5),
      });
      this.athenaFailedQueries = new cloudwatch.MathExpression({
        expression: `SUM(SEARCH('{AWS/Athena,QueryState,QueryType,WorkGroup} MetricName="TotalExecutionTime" QueryState="FAILED" WorkGroup="${workGroup}"', 'SampleCount', 300))`,
        label: 'Failed queries',
        period: Duration.minutes(5),
      });
      this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `## Serving: Athena workgroup ${workGroup}\nBytes scanned and failed queries of the serving workgroup`, width: 24, height: 2 }));
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({ title: 'Athena bytes scanned', left: [this.athenaBytesScanned], width: 12 }),
        new cloudwatch.GraphWidget({ title: 'Athena failed queries', left: [this.athenaFailedQueries], width: 12 }),
      );
    }

    if (props.lake && (props.landOpsDataInLake ?? true)) {
      const landing = this.landOpsData(props.lake, props);
      this.logDeliveryStream = landing.logStream;
      this.eventDeliveryStream = landing.eventStream;
      this.logsTable = landing.logsTable;
      this.eventsTable = landing.eventsTable;
      this.logSubscriptionRole = landing.subscriptionRole;
    }
    if (props.lake && (props.cloudTrailDataEvents ?? false)) {
      this.trail = this.lakeDataEventsTrail(props.lake);
    }

    for (const pipeline of props.pipelines ?? []) {
      this.addPipeline(pipeline);
    }

    this.node.addValidation({
      validate: () => {
        const problems: string[] = [];
        if (this.watchedPipelines.length === 0) {
          problems.push(propError(NAME, 'pipelines', 'no pipeline is watched', 'pass pipelines or call addPipeline() at least once').message);
        }
        if (this.statusAlarms.length > MAX_ALARMS) {
          problems.push(propError(NAME, 'pipelines', `${this.statusAlarms.length} alarms exceed the ${MAX_ALARMS} a composite alarm and an alarm status widget can watch`,
            'split the pipelines over two PipelineObservability instances, or turn off alarms you do not need').message);
        }
        const watched = new Set(this.watchedPipelines.map((w) => w.pipeline.pipelineName));
        (props.pipelineOverrides ?? []).forEach((o, i) => {
          if (!watched.has(o.pipelineName)) {
            problems.push(propError(NAME, `pipelineOverrides[${i}].pipelineName`, `no watched pipeline is named "${o.pipelineName}"`,
              `use one of: ${[...watched].map((n) => `"${n}"`).join(', ') || '(none watched)'}`).message);
          }
        });
        return problems;
      },
    });
  }

  /** Every alarm (those of the status widget): the pipelines' alarms (own ones included) and the undelivered-alerts alarm. */
  public get alarms(): cloudwatch.IAlarm[] {
    return [...this.statusAlarms];
  }

  /**
   * Watches one more pipeline: its dashboard section, alarms, failure rules and log landing.
   *
   * @param pipeline any implementation of the pipeline contract
   * @param thresholds thresholds for this pipeline, over the observability-wide ones and any
   *   `pipelineOverrides` entry (default: none)
   */
  public addPipeline(pipeline: IDataPipeline, thresholds?: PipelineAlarmThresholds): WatchedPipeline {
    const name = pipeline.pipelineName;
    if (this.watchedPipelines.some((w) => w.pipeline.pipelineName === name)) {
      throw propError(NAME, 'pipelines', `two pipelines are named "${name}"`, 'give each pipeline a unique pipelineName');
    }
    const t = this.thresholdsFor(name, thresholds);
    validateThresholds(t, `thresholds of pipeline "${name}"`);

    const scope = new Construct(this, `Pipeline-${name.replace(/\//g, '-')}`);
    // A pipeline of another stack is watched without a reference to that stack: its metrics'
    // dimensions, its alarms' ARNs and its log groups' names become plain strings (the resources
    // get deterministic physical names), and its failure rules live in its own stack.
    const here = Stack.of(this);
    const remote = Stack.of(pipeline) !== here;
    const m = this.plainMetrics(pipeline.pipelineMetrics);
    const deadLetterMetrics = pipeline.deadLetterQueues.map((queue) =>
      this.plain.metric(queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })));
    const quarantineCounts = pipeline.quarantines.map((q) => this.plain.metric(q.count));
    const arrivals = pipeline.freshness.map((f) => this.plain.metric(f.arrivals));
    const what = `Pipeline "${name}" (${pipeline.pipelineKind.name})`;

    const errorsAlarm = t.alarmOnErrors ? this.newAlarm(scope, 'ErrorsAlarm', {
      metric: m.errors,
      threshold: t.errorsThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${what}: errors above ${t.errorsThreshold}. Look at its logs and dead-letter queues.`,
    }) : undefined;

    const lagAlarm = m.lagMillis && t.alarmOnLag ? this.newAlarm(scope, 'LagAlarm', {
      metric: m.lagMillis,
      threshold: t.lagThreshold.toMilliseconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: t.lagEvaluationPeriods,
      datapointsToAlarm: t.lagEvaluationPeriods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${what}: more than ${t.lagThreshold.toHumanString()} behind its source for ${t.lagEvaluationPeriods} periods.`,
    }) : undefined;

    const deadLetterAlarms = t.alarmOnDeadLetters ? deadLetterMetrics.map((metric, i) => this.newAlarm(scope, `DeadLetterAlarm${i}`, {
      metric,
      threshold: t.deadLetterDepthThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${what}: more than ${t.deadLetterDepthThreshold} messages in a dead-letter queue. Inspect and redrive them.`,
    })) : [];

    const quarantineAlarms = t.alarmOnQuarantine ? pipeline.quarantines.map((q, i) => this.newAlarm(scope, `QuarantineAlarm${i}`, {
      metric: quarantineCounts[i],
      threshold: t.quarantineThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${what}: more than ${t.quarantineThreshold} records quarantined under ${q.prefix}. Their reasons are kept with them.`,
    })) : [];

    pipeline.freshness.forEach((f, j) => {
      // A pipeline built from this library (or DataPipeline) checked this where the user wrote it;
      // a hand-written IDataPipeline is checked here, naming its own field.
      const problem = freshnessIntervalProblem(f.expectedInterval);
      if (problem) {
        throw propError(`${NAME} (watching pipeline "${name}")`, `freshness[${j}].expectedInterval`, problem,
          'give whole minutes from Duration.minutes(1) to Duration.days(1), or whole hours up to Duration.days(7), where the pipeline sets it');
      }
    });
    const freshnessAlarms = t.alarmOnStaleData ? pipeline.freshness.map((f, j) => {
      const window = freshnessWindow(f.expectedInterval);
      return this.newAlarm(scope, `FreshnessAlarm${j}`, {
        metric: withPeriodSum(arrivals[j], window.period),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // Every period of the interval must be empty: one arrival anywhere in it keeps the alarm OK.
        evaluationPeriods: window.evaluationPeriods,
        datapointsToAlarm: window.evaluationPeriods,
        // No arrivals often means no datapoints at all: that is exactly the stale case.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: `${what}: no new data in "${f.dataset}" for ${f.expectedInterval.toHumanString()}.`,
      });
    }) : [];

    // The pipeline's own alarms: composed always, and routed to the topic. In this stack they get
    // every action; in another stack they get the topic by its ARN, built from the topic's
    // deterministic name with that stack's account and region, so that stack never references
    // this one (this stack already reads the pipeline's metrics: a reference back would be a cycle).
    pipeline.pipelineAlarms.forEach((own, i) => {
      if (own instanceof cloudwatch.AlarmBase) {
        if (Stack.of(own) === here) {
          own.addAlarmAction(...this.alarmActions);
        } else {
          own.addAlarmAction(this.topicActionIn(Stack.of(own)));
        }
      }
      // An alarm of another stack: on the status widget by its ARN, built from its deterministic
      // name; not in the composite (see statusAlarms).
      const arn = this.plain.string(own.alarmArn);
      if (Stack.of(own) === here || arn === own.alarmArn) this.healthAlarms.push(own);
      this.statusAlarms.push(arn === own.alarmArn ? own : cloudwatch.Alarm.fromAlarmArn(scope, `PipelineAlarm${i}`, arn));
    });

    const remoteScope = remote ? this.remoteScope(pipeline) : undefined;
    const failureRules = pipeline.failureEvents.map((pattern, i) => remoteScope
      ? this.remoteFailureRule(remoteScope, `FailureRule${i}`, name, pattern)
      : this.failureRule(scope, `FailureRule${i}`, name, pattern));

    if (this.logDeliveryStream && this.logSubscriptionRole) {
      pipeline.logGroups.forEach((original, i) => {
        const groupName = this.plain.string(original.logGroupName);
        if (this.subscribedLogGroups.has(groupName)) return;
        this.subscribedLogGroups.add(groupName);
        const group = groupName === original.logGroupName ? original : logs.LogGroup.fromLogGroupName(scope, `LogGroup${i}`, groupName);
        this.logSubscriptions.push(new logs.SubscriptionFilter(scope, `LogsToLake${i}`, {
          logGroup: group,
          destination: new logs_destinations.FirehoseDestination(this.logDeliveryStream!, { role: this.logSubscriptionRole }),
          filterPattern: logs.FilterPattern.allEvents(),
        }));
      });
    }

    const ownAlarms = [errorsAlarm, lagAlarm, ...deadLetterAlarms, ...quarantineAlarms, ...freshnessAlarms]
      .filter((a): a is cloudwatch.Alarm => a !== undefined);
    const watched: WatchedPipeline = {
      pipeline,
      thresholds: t,
      errorsAlarm,
      lagAlarm,
      deadLetterAlarms,
      quarantineAlarms,
      freshnessAlarms,
      alarms: [...ownAlarms, ...pipeline.pipelineAlarms],
      failureRules,
    };
    this.watchedPipelines.push(watched);
    this.addSection(watched, t, { metrics: m, deadLetterMetrics, quarantineCounts, arrivals });
    // Observability deploys after every stack it watches, without importing anything from it.
    for (const producer of [...this.plain.producers, Stack.of(pipeline)]) {
      // (Stacks of another stage or app cannot be depended on; nor could they be referenced before.)
      if (producer !== here && Stage.of(producer) === Stage.of(here) && !here.dependencies.includes(producer)) {
        here.addDependency(producer, `PipelineObservability ${this.node.path} watches pipeline "${name}"`);
      }
    }
    return watched;
  }

  private plainRuleName(rule: events.Rule): string {
    return this.remoteRuleNames.get(rule) ?? rule.ruleName;
  }

  private plainMetrics(m: PipelineMetrics): PipelineMetrics {
    return {
      throughput: this.plain.metric(m.throughput),
      errors: this.plain.metric(m.errors),
      lagMillis: m.lagMillis ? this.plain.metric(m.lagMillis) : undefined,
      additional: m.additional?.map((a) => ({ label: a.label, metric: this.plain.metric(a.metric) })),
    };
  }

  /** A failure rule in this stack, with the topic and the lake landing as targets. */
  private failureRule(scope: Construct, id: string, name: string, pattern: events.EventPattern): events.Rule {
    const rule = new events.Rule(scope, id, {
      description: `Failures of pipeline "${name}" to the lake alert topic`.slice(0, 512),
      eventPattern: pattern,
    });
    const targetOptions = { deadLetterQueue: this.eventTargetDeadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(24) };
    rule.addTarget(new targets.SnsTopic(this.topic, { ...targetOptions, message: failureMessage(name, pattern) }));
    if (this.eventDeliveryStream) {
      rule.addTarget(new targets.FirehoseDeliveryStream(this.eventDeliveryStream, { message: lakeEventRecord(name) }));
    }
    return rule;
  }

  /**
   * The constructs this instance adds to a pipeline of another stack (its failure rules), under the
   * pipeline so they move and go with it.
   */
  private remoteScope(pipeline: IDataPipeline): Construct {
    const known = this.remoteScopes.get(pipeline);
    if (known) return known;
    const parent = pipeline as unknown as Construct;
    // Short (the rules' names are built from the path), unless another instance of the same id took it.
    const short = `WatchedBy${this.node.id}`;
    const scope = new Construct(parent, parent.node.tryFindChild(short) ? `WatchedBy${Names.uniqueId(this)}` : short);
    this.remoteScopes.set(pipeline, scope);
    acknowledgeInlinePolicies(scope, 'PipelineObservability (the failure rule\'s role that puts events into the ops Firehose)');
    return scope;
  }

  /**
   * A failure rule in the pipeline's own stack, where its pattern's ARNs and names are local (a DMS
   * replication config's ARN cannot be built from a name). Its targets are this stack's topic, dead-letter
   * queue and event Firehose by ARNs built from their deterministic names, and this stack allows the
   * rule (by its deterministic ARN) on the topic's and the queue's policies.
   */
  private remoteFailureRule(scope: Construct, id: string, name: string, pattern: events.EventPattern): events.Rule {
    const stack = Stack.of(scope);
    const rule = new events.Rule(scope, id, {
      description: `Failures of pipeline "${name}" to the lake alert topic`.slice(0, 512),
      eventPattern: pattern,
    });
    const ruleName = this.nameOnce(rule.node.defaultChild as events.CfnRule, 'name', 64);
    this.remoteRuleNames.set(rule, ruleName);
    this.allowRemoteRule(stack.formatArn({ service: 'events', resource: 'rule', resourceName: ruleName }));
    const topic = sns.Topic.fromTopicArn(scope, `${id}AlertTopic`, this.topicArnIn(stack));
    const dlq = sqs.Queue.fromQueueArn(scope, `${id}UndeliveredAlerts`, stack.formatArn({
      service: 'sqs',
      resource: this.nameOnce(
        this.eventTargetDeadLetterQueue.node.defaultChild as sqs.CfnQueue, 'queueName', 80),
    }));
    rule.addTarget(new targets.SnsTopic(topic, {
      deadLetterQueue: dlq, retryAttempts: 8, maxEventAge: Duration.hours(24), message: failureMessage(name, pattern),
    }));
    if (this.eventStreamCfn) {
      const streamArn = stack.formatArn({
        service: 'firehose',
        resource: 'deliverystream',
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
        resourceName: this.nameOnce(this.eventStreamCfn, 'deliveryStreamName', 64),
      });
      const eventStream = firehose.DeliveryStream.fromDeliveryStreamArn(scope, `${id}EventsToLake`, streamArn);
      rule.addTarget(new targets.FirehoseDeliveryStream(eventStream, { message: lakeEventRecord(name) }));
    }
    return rule;
  }

  /** Sets a deterministic physical name on one of this construct's resources, once, and returns it. */
  private nameOnce(cfn: CfnResource, prop: string, maxLength: number): string {
    const l1 = cfn as unknown as Record<string, unknown>;
    // An L2 sets the property to a token that renders nothing when no name was given.
    if (l1[prop] === undefined || (Token.isUnresolved(l1[prop]) && Stack.of(cfn).resolve(l1[prop]) === undefined)) {
      l1[prop] = stackScopedResourceName(cfn, maxLength);
    }
    return l1[prop] as string;
  }

  /** Lets a failure rule of another stack publish to the topic and dead-letter into the queue. */
  private allowRemoteRule(ruleArn: string): void {
    if (this.remoteRuleArns.length === 0) {
      const sourceRules = { ArnEquals: { 'aws:SourceArn': Lazy.list({ produce: () => this.remoteRuleArns }) } };
      const eventBridge = new iam.ServicePrincipal('events.amazonaws.com');
      this.topic.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'PipelineFailureRulesOfOtherStacksPublish',
        principals: [eventBridge],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: sourceRules,
      }));
      this.eventTargetDeadLetterQueue.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'PipelineFailureRulesOfOtherStacksDeadLetter',
        principals: [eventBridge],
        actions: ['sqs:SendMessage'],
        resources: [this.eventTargetDeadLetterQueue.queueArn],
        conditions: sourceRules,
      }));
    }
    this.remoteRuleArns.push(ruleArn);
  }

  /**
   * The watched pipeline of that name.
   * @param pipelineName the name of a watched pipeline
   */
  public watchedPipeline(pipelineName: string): WatchedPipeline {
    const found = this.watchedPipelines.find((w) => w.pipeline.pipelineName === pipelineName);
    if (!found) {
      throw propError(NAME, 'pipelineName', `no watched pipeline is named "${pipelineName}"`, 'add it with addPipeline() first');
    }
    return found;
  }

  private thresholdsFor(name: string, extra: PipelineAlarmThresholds | undefined): Required<PipelineAlarmThresholds> {
    const override = (this.props.pipelineOverrides ?? []).find((o) => o.pipelineName === name);
    const layers: PipelineAlarmThresholds[] = [this.props.alarmThresholds ?? {}, override ?? {}, extra ?? {}];
    const merged: { [key: string]: unknown } = { ...DEFAULT_THRESHOLDS };
    for (const layer of layers) {
      for (const key of Object.keys(DEFAULT_THRESHOLDS) as (keyof PipelineAlarmThresholds)[]) {
        // `??`-style merge: only an unset field falls through, so `false` and `0` stick.
        if (layer[key] !== undefined) merged[key] = layer[key];
      }
    }
    return merged as unknown as Required<PipelineAlarmThresholds>;
  }

  /**
   * The alert topic as an alarm action of an alarm in another stack: its ARN from the topic's
   * deterministic name and that stack's partition, account and region (no cross-stack reference).
   * Naming the topic is deferred to synthesis and only happens when an alarm needs it, so apps
   * with one stack keep a generated topic name.
   */
  private topicActionIn(stack: Stack): cloudwatch.IAlarmAction {
    const arn = this.topicArnIn(stack);
    return { bind: () => ({ alarmActionArn: arn }) };
  }

  /** The topic's ARN from its deterministic name, in another stack of the same account and region. */
  private topicArnIn(stack: Stack): string {
    const here = Stack.of(this);
    for (const field of ['account', 'region'] as const) {
      if (!Token.isUnresolved(here[field]) && !Token.isUnresolved(stack[field]) && here[field] !== stack[field]) {
        throw propError(NAME, 'pipelines', `a pipeline alarm in stack ${stack.stackName} (${field} ${stack[field]}) cannot notify the alert topic in ${here[field]}`,
          'watch pipelines of one account and region with a PipelineObservability in that account and region');
      }
    }
    this.topicNamedForOtherStacks = true;
    return stack.formatArn({ service: 'sns', resource: this.alertTopicName, arnFormat: ArnFormat.NO_RESOURCE_NAME });
  }

  private newAlarm(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, props);
    alarm.addAlarmAction(...this.alarmActions);
    this.healthAlarms.push(alarm);
    this.statusAlarms.push(alarm);
    return alarm;
  }

  private addSection(w: WatchedPipeline, t: Required<PipelineAlarmThresholds>, plain: SectionMetrics): void {
    const pipeline = w.pipeline;
    const profile = kindProfile(pipeline.pipelineKind.name);
    const m = plain.metrics;
    const threshold = (value: number, on: boolean): cloudwatch.HorizontalAnnotation[] =>
      on ? [{ value, label: 'alarm threshold', color: cloudwatch.Color.RED }] : [];

    this.dashboard.addWidgets(new cloudwatch.TextWidget({
      markdown: `## ${pipeline.pipelineName}\n${profile.title} pipeline`,
      width: 24,
      height: 2,
    }));

    const failureEventCounts = w.failureRules.map((rule, i) => new cloudwatch.Metric({
      namespace: 'AWS/Events',
      metricName: 'TriggeredRules',
      dimensionsMap: { RuleName: this.plainRuleName(rule) },
      statistic: 'Sum',
      label: `Failure events (${i + 1})`,
    }));
    const main: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({ title: profile.throughput, left: [labeled(m.throughput, profile.throughput)], width: 8 }),
      new cloudwatch.GraphWidget({
        title: profile.errors,
        left: [labeled(m.errors, profile.errors)],
        right: failureEventCounts,
        leftAnnotations: threshold(t.errorsThreshold, t.alarmOnErrors),
        width: 8,
      }),
    ];
    if (m.lagMillis) {
      main.push(new cloudwatch.GraphWidget({
        title: profile.lag,
        left: [labeled(m.lagMillis, profile.lag)],
        leftAnnotations: threshold(t.lagThreshold.toMilliseconds(), t.alarmOnLag),
        width: 8,
      }));
    }
    this.dashboard.addWidgets(...main);

    const health: cloudwatch.IWidget[] = [];
    if (pipeline.freshness.length > 0) {
      health.push(new cloudwatch.GraphWidget({
        title: 'Freshness: new data per dataset',
        left: pipeline.freshness.map((f, j) => labeled(withPeriodSum(plain.arrivals[j], freshnessWindow(f.expectedInterval).period), f.dataset)),
        width: 8,
      }));
    }
    if (pipeline.deadLetterQueues.length > 0) {
      health.push(new cloudwatch.GraphWidget({
        title: 'Dead-letter queue depth',
        left: plain.deadLetterMetrics,
        leftAnnotations: threshold(t.deadLetterDepthThreshold, t.alarmOnDeadLetters),
        width: 8,
      }));
    }
    if (pipeline.quarantines.length > 0) {
      health.push(new cloudwatch.GraphWidget({
        title: 'Quarantined records',
        left: pipeline.quarantines.map((q, i) => labeled(plain.quarantineCounts[i], q.prefix)),
        leftAnnotations: threshold(t.quarantineThreshold, t.alarmOnQuarantine),
        width: 8,
      }));
    }
    if (health.length > 0) this.dashboard.addWidgets(...health);

    // Write-audit-publish: audits per curated table, and how old its data was when published.
    const audited = pipeline.freshness.filter((f) => f.auditsPassed || f.auditsFailed);
    const aged = pipeline.freshness.filter((f) => f.publishedDataAge);
    const quality: cloudwatch.IWidget[] = [];
    if (audited.length > 0) {
      quality.push(new cloudwatch.GraphWidget({
        title: 'Audits per table: passed (published) and failed (main unchanged)',
        left: audited.flatMap((f) => [
          ...(f.auditsPassed ? [labeled(this.plain.metric(f.auditsPassed), `Audits passed (${f.dataset})`)] : []),
          ...(f.auditsFailed ? [labeled(this.plain.metric(f.auditsFailed), `Audits failed (${f.dataset})`)] : []),
        ]),
        width: 12,
      }));
    }
    if (aged.length > 0) {
      quality.push(new cloudwatch.GraphWidget({
        title: 'Freshness: age of the newest data when published (s)',
        left: aged.map((f) => labeled(this.plain.metric(f.publishedDataAge!), `Published data age, s (${f.dataset})`)),
        width: 12,
      }));
    }
    if (quality.length > 0) this.dashboard.addWidgets(...quality);

    const particular = m.additional ?? [];
    if (particular.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `### ${profile.particular}`, width: 24, height: 1 }));
      for (let i = 0; i < particular.length; i += 3) {
        this.dashboard.addWidgets(...particular.slice(i, i + 3).map((lm) => new cloudwatch.GraphWidget({
          title: lm.label,
          left: [labeled(lm.metric, lm.label)],
          width: 8,
        })));
      }
    }
  }

  private landOpsData(lake: ILakehouse, props: PipelineObservabilityProps) {
    const raw = lake.raw;
    const stack = Stack.of(this);
    const stream = (id: string, kind: string, processors: firehose.CfnDeliveryStream.ProcessorProperty[]) => {
      const prefix = LakeLayout.opsPrefix(kind);
      const errorRoot = LakeLayout.opsPrefix(`${kind}-delivery-errors`);
      // Firehose's own delivery errors, one group per stream.
      const errorLogs = lakeLogGroup(this, `${id}Errors`, {
        userKey: props.logEncryptionKey,
        constructKey: this.topicEncryptionKey,
        keyProp: 'logEncryptionKey',
        retention: props.deliveryErrorLogRetention ?? logs.RetentionDays.ONE_YEAR,
        removalPolicy: this.removalPolicy,
      });
      const errorStream = errorLogs.addStream('S3Delivery');
      // A role of our own rather than the L2 destination's, which grants read, write and delete
      // on the whole raw bucket: this one can only add objects under its two prefixes.
      const role = new iam.Role(this, `${id}Role`, {
        description: `Lets Firehose land the lake pipelines' ${kind} under ${prefix} of the raw zone`,
        assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
        }),
      });
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [raw.bucket.arnForObjects(`${prefix}*`), raw.bucket.arnForObjects(`${errorRoot}*`)],
      }));
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [raw.bucket.bucketArn],
      }));
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [raw.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }));
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['logs:PutLogEvents'],
        resources: [stack.formatArn({
          service: 'logs',
          resource: 'log-group',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          resourceName: `${errorLogs.logGroupName}:log-stream:${errorStream.logStreamName}`,
        })],
      }));
      suppressNag(role.node.findChild('DefaultPolicy'), [{
        id: 'AwsSolutions-IAM5',
        reason: `Firehose names the objects it writes itself (date partition, stream name, sequence): the narrowest grant is objects under the ${prefix} and ${errorRoot} prefixes of the raw zone bucket.`,
        appliesTo: [`/^Resource::<.+\\.Arn>\\/${escapeRegex(prefix)}\\*$/`, `/^Resource::<.+\\.Arn>\\/${escapeRegex(errorRoot)}\\*$/`],
      }]);

      const cfn = new firehose.CfnDeliveryStream(this, id, {
        deliveryStreamType: 'DirectPut',
        // Firehose buffers in its own storage before S3; the objects land with the lake's key.
        deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
        extendedS3DestinationConfiguration: {
          bucketArn: raw.bucket.bucketArn,
          roleArn: role.roleArn,
          prefix: `${prefix}day=!{timestamp:yyyy-MM-dd}/`,
          errorOutputPrefix: `${errorRoot}!{firehose:error-output-type}/day=!{timestamp:yyyy-MM-dd}/`,
          compressionFormat: 'GZIP',
          bufferingHints: { intervalInSeconds: 300, sizeInMBs: 5 },
          encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: raw.encryptionKey.keyArn } },
          cloudWatchLoggingOptions: { enabled: true, logGroupName: errorLogs.logGroupName, logStreamName: errorStream.logStreamName },
          processingConfiguration: { enabled: true, processors },
        },
      });
      // Firehose checks its role when the stream is created: the policy must exist first.
      cfn.node.addDependency(role);
      const deliveryStream = firehose.DeliveryStream.fromDeliveryStreamAttributes(this, `${id}Ref`, {
        deliveryStreamArn: cfn.attrArn,
        deliveryStreamName: cfn.ref,
      });
      return { deliveryStream, cfn, prefix };
    };

    // CloudWatch Logs sends gzip batches: decompress so each batch becomes one JSON line Athena
    // can read, then Firehose gzips the objects again.
    const appendNewline = { type: 'AppendDelimiterToRecord', parameters: [] };
    // Each observability instance lands under its own prefix, named after its own tables, so two
    // instances on one lake neither define the same tables nor read each other's data.
    const logsTableName = props.logsTableName ?? defaultOpsTableName(this.node.id, 'logs');
    const eventsTableName = props.eventsTableName ?? defaultOpsTableName(this.node.id, 'events');
    const logsLanding = stream('LogsToLake', logsTableName, [
      { type: 'Decompression', parameters: [{ parameterName: 'CompressionFormat', parameterValue: 'GZIP' }] },
      appendNewline,
    ]);
    const eventsLanding = stream('EventsToLake', eventsTableName, [appendNewline]);
    this.eventStreamCfn = eventsLanding.cfn;

    const day = { name: 'day', projection: PartitionProjection.dateRange({ format: 'yyyy-MM-dd', rangeStart: 'NOW-5YEARS' }) };
    const logsTable = new RawTable(this, 'LogsTable', {
      zone: raw,
      tableName: logsTableName,
      prefix: logsLanding.prefix,
      description: 'The lake pipelines\' CloudWatch Logs, one row per delivered batch (unnest logevents for single events).',
      columns: [
        { name: 'messagetype', type: 'string', comment: 'DATA_MESSAGE, or CONTROL_MESSAGE for CloudWatch Logs reachability checks' },
        { name: 'owner', type: 'string' },
        { name: 'loggroup', type: 'string' },
        { name: 'logstream', type: 'string' },
        { name: 'subscriptionfilters', type: 'array<string>' },
        { name: 'logevents', type: 'array<struct<id:string,timestamp:bigint,message:string>>' },
      ],
      partitionKeys: [day],
    });
    const eventsTable = new RawTable(this, 'EventsTable', {
      zone: raw,
      tableName: eventsTableName,
      prefix: eventsLanding.prefix,
      description: 'Failure events of the lake pipelines (Glue, Step Functions, DMS...), one row per event.',
      columns: [
        { name: 'pipeline', type: 'string' },
        { name: 'id', type: 'string' },
        { name: 'time', type: 'string' },
        { name: 'source', type: 'string' },
        { name: 'detail_type', type: 'string' },
        { name: 'account', type: 'string' },
        { name: 'region', type: 'string' },
        { name: 'resources', type: 'array<string>' },
        { name: 'detail', type: 'string', comment: 'the event detail as JSON text' },
      ],
      partitionKeys: [day],
    });
    LakehouseDeployRules._nameOwner(logsTable, this, NAME, 'logsTableName');
    LakehouseDeployRules._nameOwner(eventsTable, this, NAME, 'eventsTableName');

    // One role for every subscription, trusted only by CloudWatch Logs of this account and region.
    const subscriptionRole = new iam.Role(this, 'LogSubscriptionRole', {
      description: 'Lets CloudWatch Logs put the lake pipelines\' log events into the ops Firehose',
      assumedBy: new iam.ServicePrincipal('logs.amazonaws.com', {
        conditions: {
          // The form AWS documents for CloudWatch Logs subscriptions: any log group of this account and region.
          StringLike: { 'aws:SourceArn': stack.formatArn({ service: 'logs', resource: '*' }) },
        },
      }),
    });
    logsLanding.deliveryStream.grantPutRecords(subscriptionRole);

    return {
      logStream: logsLanding.deliveryStream,
      eventStream: eventsLanding.deliveryStream,
      logsTable,
      eventsTable,
      subscriptionRole,
    };
  }

  private lakeDataEventsTrail(lake: ILakehouse): cloudtrail.Trail {
    const prefix = LakeLayout.opsPrefix('cloudtrail');
    const trail = new cloudtrail.Trail(this, 'LakeDataEvents', {
      bucket: lake.raw.bucket,
      s3KeyPrefix: prefix.replace(/\/$/, ''),
      encryptionKey: lake.encryptionKey,
      isMultiRegionTrail: false,
      includeGlobalServiceEvents: false,
      enableFileValidation: true,
    });
    const stack = Stack.of(this);
    // CloudTrail encrypts its log files with the lake key: allow it, for trails of this account only.
    // On an imported key the statement cannot be added here: the key's owner is told what to add.
    addOrReportStatement(this, lake.encryptionKey, 'lake key (KMS key policy)', new iam.PolicyStatement({
      sid: 'CloudTrailEncryptsLakeDataEventLogs',
      principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
      actions: ['kms:GenerateDataKey*', 'kms:DescribeKey'],
      resources: ['*'],
      conditions: {
        StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${stack.partition}:cloudtrail:*:${stack.account}:trail/*` },
      },
    }), 'CloudTrail cannot encrypt the data-event log files with it, and the trail fails to deliver');
    // The Trail adds CloudTrail's two bucket statements itself, and CDK drops them silently on an
    // imported bucket: the bucket's owner is told what to add.
    if (!lake.raw.bucket.policy && !(lake.raw.bucket instanceof s3.Bucket)) {
      const cloudtrailPrincipal = new iam.ServicePrincipal('cloudtrail.amazonaws.com');
      const why = 'CloudTrail cannot check the bucket or write the data-event log files under ' + prefix;
      reportStatement(this, lake.raw.bucket, 'raw zone bucket (bucket policy)', new iam.PolicyStatement({
        sid: 'CloudTrailChecksLakeBucketAcl',
        principals: [cloudtrailPrincipal],
        actions: ['s3:GetBucketAcl'],
        resources: [lake.raw.bucket.bucketArn],
      }), why);
      reportStatement(this, lake.raw.bucket, 'raw zone bucket (bucket policy)', new iam.PolicyStatement({
        sid: 'CloudTrailWritesLakeDataEvents',
        principals: [cloudtrailPrincipal],
        actions: ['s3:PutObject'],
        resources: [lake.raw.bucket.arnForObjects(`${prefix}AWSLogs/${stack.account}/*`)],
        conditions: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } },
      }), why);
    }
    // Advanced selectors: object-level events on the three zones, except CloudTrail's own
    // deliveries under _ops/cloudtrail/ (logging those would log its own writes forever).
    const arn = (bucket: string, key = '') => `${bucket}/${key}`;
    const zones = [lake.raw, lake.clean, lake.curated];
    const cfn = trail.node.defaultChild as cloudtrail.CfnTrail;
    cfn.advancedEventSelectors = [{
      name: 'Lake object access',
      fieldSelectors: [
        { field: 'eventCategory', equalTo: ['Data'] },
        { field: 'resources.type', equalTo: ['AWS::S3::Object'] },
        {
          field: 'resources.ARN',
          startsWith: zones.map((z) => arn(z.bucket.bucketArn)),
          notStartsWith: [arn(lake.raw.bucket.bucketArn, prefix)],
        },
      ],
    }];
    suppressNag(trail, [{
      id: 'NIST.800.53.R5-CloudTrailCloudWatchLogsEnabled',
      reason: 'This trail exists to land the lake\'s S3 data events in the lake itself (_ops/cloudtrail/, SSE-KMS with the lake key, '
        + 'file validation on) where Athena queries them; account-wide management events and their CloudWatch Logs delivery belong '
        + 'to the organisation\'s own trail. Sending every data event to CloudWatch Logs too would store and bill each one twice.',
    }]);
    return trail;
  }
}

/** A pipeline's metrics as this stack renders them (plain strings for other stacks' resources). */
interface SectionMetrics {
  readonly metrics: PipelineMetrics;
  readonly deadLetterMetrics: cloudwatch.IMetric[];
  readonly quarantineCounts: cloudwatch.IMetric[];
  readonly arrivals: cloudwatch.IMetric[];
}

/** Default name of an ops table: the instance's construct id, then the kind (`Ops` → `ops_logs`). */
function defaultOpsTableName(id: string, kind: string): string {
  return `${sanitizeName({ ...GLUE_NAME_RULE, maxLength: 255 - kind.length - 1 }, [id])}_${kind}`;
}

function validateProps(props: PipelineObservabilityProps, id: string): void {
  if (props.alarmThresholds) validateThresholds(props.alarmThresholds, 'alarmThresholds');
  (props.pipelineOverrides ?? []).forEach((o, i) => {
    if (!o.pipelineName) {
      throw propError(NAME, `pipelineOverrides[${i}].pipelineName`, 'it is empty', 'name the pipeline the thresholds apply to');
    }
    if ((props.pipelineOverrides ?? []).findIndex((x) => x.pipelineName === o.pipelineName) !== i) {
      throw propError(NAME, `pipelineOverrides[${i}].pipelineName`, `"${o.pipelineName}" has two overrides`, 'merge them into one entry');
    }
    validateThresholds(o, `pipelineOverrides[${i}]`);
  });
  (props.emailSubscriptions ?? []).forEach((email, i) => {
    if (!EMAIL.test(email)) {
      throw propError(NAME, `emailSubscriptions[${i}]`, `"${email}" is not an email address`, 'give an address such as "oncall@example.com"');
    }
  });
  if (!props.lake && props.landOpsDataInLake === true) {
    throw propError(NAME, 'landOpsDataInLake', 'there is no lake to land logs and events in', 'pass "lake", or leave landOpsDataInLake unset');
  }
  if (!props.lake && props.cloudTrailDataEvents === true) {
    throw propError(NAME, 'cloudTrailDataEvents', 'there is no lake whose buckets to record', 'pass "lake", or leave cloudTrailDataEvents unset');
  }
  if (props.lake && (props.landOpsDataInLake ?? true)) {
    const logsTableName = props.logsTableName ?? defaultOpsTableName(id, 'logs');
    const eventsTableName = props.eventsTableName ?? defaultOpsTableName(id, 'events');
    validateGlueName(NAME, 'logsTableName', logsTableName);
    validateGlueName(NAME, 'eventsTableName', eventsTableName);
    if (logsTableName === eventsTableName) {
      throw propError(NAME, 'eventsTableName', 'it is the same as logsTableName', 'give the two tables different names');
    }
  }
  if (props.athenaWorkGroupName !== undefined && !/^[a-zA-Z0-9._-]{1,128}$/.test(props.athenaWorkGroupName)) {
    throw propError(NAME, 'athenaWorkGroupName', `"${props.athenaWorkGroupName}" is not an Athena workgroup name`, 'use 1-128 letters, digits, ".", "_" or "-"');
  }
  if (props.topicName !== undefined && !Token.isUnresolved(props.topicName) && !/^[a-zA-Z0-9_-]{1,256}$/.test(props.topicName)) {
    throw propError(NAME, 'topicName', `"${props.topicName}" is not an SNS topic name`, 'use 1-256 letters, digits, "_" or "-", unique in the account and region');
  }
  if (props.dashboardName !== undefined && !/^[a-zA-Z0-9_-]{1,255}$/.test(props.dashboardName)) {
    throw propError(NAME, 'dashboardName', `"${props.dashboardName}" is not a dashboard name`, 'use 1-255 letters, digits, "_" or "-"');
  }
}

function validateThresholds(t: PipelineAlarmThresholds, where: string): void {
  const nonNegative = (key: keyof PipelineAlarmThresholds, value: number | undefined) => {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw propError(NAME, `${where}.${key}`, `${value} is not a number >= 0`, 'give a finite threshold of 0 or more');
    }
  };
  nonNegative('errorsThreshold', t.errorsThreshold);
  nonNegative('deadLetterDepthThreshold', t.deadLetterDepthThreshold);
  nonNegative('quarantineThreshold', t.quarantineThreshold);
  if (t.lagEvaluationPeriods !== undefined && !(Number.isInteger(t.lagEvaluationPeriods) && t.lagEvaluationPeriods >= 1)) {
    throw propError(NAME, `${where}.lagEvaluationPeriods`, `${t.lagEvaluationPeriods} is not a whole number >= 1`, 'give 1 or more periods');
  }
  if (t.lagThreshold !== undefined && t.lagThreshold.toMilliseconds() <= 0) {
    throw propError(NAME, `${where}.lagThreshold`, 'it is zero', 'give a positive duration, or set alarmOnLag to false');
  }
}

/** The arrivals metric summed over the expected interval (kept as is when it is not ours to reshape). */
function withPeriodSum(metric: cloudwatch.IMetric, period: Duration): cloudwatch.IMetric {
  if (metric instanceof cloudwatch.Metric) return metric.with({ period, statistic: 'Sum' });
  if (metric instanceof cloudwatch.MathExpression) return metric.with({ period });
  return metric;
}

function labeled(metric: cloudwatch.IMetric, label: string): cloudwatch.IMetric {
  if (metric instanceof cloudwatch.Metric || metric instanceof cloudwatch.MathExpression) {
    return metric.label ? metric : metric.with({ label });
  }
  return metric;
}

