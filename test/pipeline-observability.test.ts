import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { nagFindings } from './nag';
import {
  DataPipeline,
  FailureEvents,
  FreshnessSignal,
  IDataPipeline,
  LakehouseTier,
  PipelineKind,
  PipelineMetrics,
  PipelineObservability,
  PipelineObservabilityProps,
  QuarantineLocation,
} from '../src';

// ---------------------------------------------------------------------------------------------
// Fixtures

function metric(name: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: 'Test', metricName: name, statistic: 'Sum', period });
}

function queue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true });
}

/** A pipeline of a kind, with metrics named after it so each alarm and widget can be found. */
interface FixtureOptions {
  readonly dlq?: boolean;
  readonly lag?: boolean;
  readonly fresh?: boolean;
  readonly quarantine?: boolean;
  readonly logs?: boolean;
  readonly events?: events.EventPattern[];
}

function pipelineOf(scope: Construct, name: string, kind: PipelineKind, additional: string[], extra: FixtureOptions = {}): DataPipeline {
  const stack = Stack.of(scope);
  const bucket = stack.node.tryFindChild('QuarantineBucket') as s3.IBucket ?? s3.Bucket.fromBucketName(stack, 'QuarantineBucket', 'quarantine-bucket');
  return new DataPipeline(scope, `P-${name}`, {
    pipelineName: name,
    pipelineKind: kind,
    metrics: {
      throughput: metric(`${name}-throughput`),
      errors: metric(`${name}-errors`),
      lagMillis: extra.lag === false ? undefined : new cloudwatch.Metric({ namespace: 'Test', metricName: `${name}-lag`, statistic: 'Maximum' }),
      additional: additional.map((label) => ({ label, metric: metric(`${name}-${label.replace(/\s/g, '')}`) })),
    },
    deadLetterQueues: extra.dlq === false ? [] : [queue(scope, `Dlq-${name}`)],
    quarantines: extra.quarantine === false ? [] : [{ bucket, prefix: `_quarantine/${name}/`, count: metric(`${name}-quarantined`) }],
    freshness: extra.fresh === false ? [] : [{ dataset: `${name}_table`, arrivals: metric(`${name}-arrivals`), expectedInterval: Duration.hours(1) }],
    logGroups: extra.logs === false ? [] : [new logs.LogGroup(scope, `Logs-${name}`, { logGroupName: `/lake/${name}` })],
    failureEvents: extra.events ?? [],
  });
}

/** A user's own pipeline: a hand-written class implementing the contract, of a kind of its own. */
class NightlyExport extends Construct implements IDataPipeline {
  public readonly pipelineName = 'nightly-export';
  public readonly pipelineKind = PipelineKind.of('batch-export');
  public readonly pipelineMetrics: PipelineMetrics;
  public readonly freshness: FreshnessSignal[];
  public readonly deadLetterQueues: sqs.IQueue[] = [];
  public readonly quarantines: QuarantineLocation[] = [];
  public readonly pipelineAlarms: cloudwatch.IAlarm[];
  public readonly failureEvents: events.EventPattern[];
  public readonly logGroups: logs.ILogGroup[] = [];
  public readonly ownAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.pipelineMetrics = {
      throughput: metric('RowsExported'),
      errors: metric('ExportErrors'),
      additional: [{ label: 'Export duration', metric: metric('ExportDuration') }],
    };
    this.freshness = [{ dataset: 'exports', arrivals: metric('ExportFiles'), expectedInterval: Duration.days(1) }];
    this.ownAlarm = new cloudwatch.Alarm(this, 'TooSlow', { metric: metric('ExportDuration'), threshold: 3600, evaluationPeriods: 1 });
    this.pipelineAlarms = [this.ownAlarm];
    this.failureEvents = [FailureEvents.stateMachine(['arn:aws:states:us-east-1:111111111111:stateMachine:nightly'])];
  }
}

function newStack(): Stack {
  return new Stack(new App(), 'Obs', { env: { account: '111111111111', region: 'us-east-1' } });
}

/** The dashboard body as JSON, with CloudFormation references rendered as `REF(id)` / `ATT(id.attr)`. */
function dashboardOf(template: Template): { widgets: any[] } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0].Properties.DashboardBody;
  const parts: any[] = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  const text = parts.map((p) => {
    if (typeof p === 'string') return p;
    if (p.Ref) return `REF(${p.Ref})`;
    if (p['Fn::GetAtt']) return `ATT(${p['Fn::GetAtt'].join('.')})`;
    return 'TOKEN';
  }).join('');
  return JSON.parse(text);
}

function titles(dashboard: { widgets: any[] }): string[] {
  return dashboard.widgets.map((w) => w.properties.title ?? w.properties.markdown);
}

/** Widgets of one pipeline's section: from its `## name` header to the next `## ` header. */
function section(dashboard: { widgets: any[] }, name: string): any[] {
  const start = dashboard.widgets.findIndex((w) => w.type === 'text' && String(w.properties.markdown).startsWith(`## ${name}\n`));
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = dashboard.widgets.slice(start + 1);
  const end = rest.findIndex((w) => w.type === 'text' && /^## /.test(String(w.properties.markdown)));
  return end < 0 ? rest : rest.slice(0, end);
}

function metricNamesOf(widget: any): string[] {
  return (widget.properties.metrics ?? []).map((m: any[]) => m[1]);
}

function alarmOn(template: Template, metricName: string): any {
  const found = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metricName } }));
  expect(found).toHaveLength(1);
  return found[0].Properties;
}

function observe(stack: Stack, pipelines: IDataPipeline[], props: Omit<PipelineObservabilityProps, 'pipelines'> = {}): PipelineObservability {
  return new PipelineObservability(stack, 'Observability', { pipelines, ...props });
}

// ---------------------------------------------------------------------------------------------

describe('alarm defaults (each pinned to its documented @default)', () => {
  const stack = newStack();
  const p = pipelineOf(stack, 'orders', PipelineKind.STREAMING, []);
  observe(stack, [p]);
  const template = Template.fromStack(stack);

  test('errors: Sum above 0 in one period, missing data is fine', () => {
    expect(alarmOn(template, 'orders-errors')).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold', Threshold: 0, EvaluationPeriods: 1, TreatMissingData: 'notBreaching', Statistic: 'Sum', Period: 300,
    });
  });

  test('lag: above 15 minutes (900000 ms) for 3 of 3 periods', () => {
    expect(alarmOn(template, 'orders-lag')).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold', Threshold: 900000, EvaluationPeriods: 3, DatapointsToAlarm: 3, TreatMissingData: 'notBreaching',
    });
  });

  test('dead-letter queue: more than 0 visible messages (1-minute maximum)', () => {
    const dlqAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { MetricName: 'ApproximateNumberOfMessagesVisible', Period: 60 },
    }));
    expect(dlqAlarms).toHaveLength(1);
    expect(dlqAlarms[0].Properties).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0, EvaluationPeriods: 1, Statistic: 'Maximum' });
  });

  test('quarantine: more than 0 records', () => {
    expect(alarmOn(template, 'orders-quarantined')).toMatchObject({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0, EvaluationPeriods: 1 });
  });

  test('freshness: fewer than 1 arrival over the expected interval, missing data breaching', () => {
    expect(alarmOn(template, 'orders-arrivals')).toMatchObject({
      ComparisonOperator: 'LessThanThreshold', Threshold: 1, EvaluationPeriods: 1, Period: 3600, Statistic: 'Sum', TreatMissingData: 'breaching',
    });
  });

  test('one alarm per check, plus the undelivered-alerts alarm, and one composite', () => {
    // errors, lag, 1 DLQ, 1 quarantine, 1 freshness + undelivered alerts
    template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
    template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 1);
  });

  test('the undelivered-alerts alarm watches the failure rules\' dead-letter queue', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { MetricName: 'ApproximateNumberOfMessagesVisible', Period: 300 },
    }));
    expect(alarms).toHaveLength(1);
    expect(alarms[0].Properties.Dimensions[0].Value['Fn::GetAtt'][0]).toMatch(/^ObservabilityUndeliveredAlerts/);
  });
});

describe('thresholds: observability-wide, per pipeline, and turned off', () => {
  const stack = newStack();
  const a = pipelineOf(stack, 'a', PipelineKind.CDC, []);
  const b = pipelineOf(stack, 'b', PipelineKind.CDC, []);
  const obs = observe(stack, [a, b], {
    alarmThresholds: { errorsThreshold: 5, lagThreshold: Duration.minutes(30) },
    pipelineOverrides: [{
      pipelineName: 'b',
      errorsThreshold: 0, // 0 must beat the observability-wide 5 (`??`, not `||`)
      lagEvaluationPeriods: 1,
      alarmOnDeadLetters: false,
      alarmOnQuarantine: false,
      alarmOnStaleData: false,
    }],
  });
  const template = Template.fromStack(stack);

  test('the observability-wide thresholds apply to a pipeline without override', () => {
    expect(alarmOn(template, 'a-errors').Threshold).toBe(5);
    expect(alarmOn(template, 'a-lag')).toMatchObject({ Threshold: 1800000, EvaluationPeriods: 3 });
  });

  test('an override wins field by field, a 0 included', () => {
    expect(alarmOn(template, 'b-errors').Threshold).toBe(0);
    expect(alarmOn(template, 'b-lag')).toMatchObject({ Threshold: 1800000, EvaluationPeriods: 1 });
  });

  test('turned-off alarms are not created', () => {
    expect(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'b-quarantined' } })).toEqual({});
    expect(template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'b-arrivals' } })).toEqual({});
    const watchedB = obs.watchedPipeline('b');
    expect(watchedB.deadLetterAlarms).toEqual([]);
    expect(watchedB.quarantineAlarms).toEqual([]);
    expect(watchedB.freshnessAlarms).toEqual([]);
    // a: 5 alarms; b: errors + lag; + undelivered alerts
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5 + 2 + 1);
  });

  test('addPipeline() takes thresholds over everything else', () => {
    const s = newStack();
    const o = observe(s, [pipelineOf(s, 'x', PipelineKind.CUSTOM, [])], { pipelineOverrides: [{ pipelineName: 'y', errorsThreshold: 3 }] });
    const y = o.addPipeline(pipelineOf(s, 'y', PipelineKind.CUSTOM, []), { errorsThreshold: 7, alarmOnErrors: true });
    expect(y.thresholds.errorsThreshold).toBe(7);
    expect(alarmOn(Template.fromStack(s), 'y-errors').Threshold).toBe(7);
  });
});

describe('dashboard: a section per pipeline with the widgets of its kind', () => {
  const stack = newStack();
  const pipelines = [
    pipelineOf(stack, 'clicks', PipelineKind.STREAMING, ['Duplicate ratio']),
    pipelineOf(stack, 'orders', PipelineKind.CDC, ['Merge duration', 'Rows merged']),
    pipelineOf(stack, 'weather', PipelineKind.API_PULL, ['Pages pulled'], { lag: false }),
    pipelineOf(stack, 'reports', PipelineKind.SERVING, [], { dlq: false, quarantine: false, fresh: false, lag: false }),
  ];
  const obs = observe(stack, pipelines, { athenaWorkGroupName: 'analysts' });
  obs.addPipeline(new NightlyExport(stack, 'Nightly'));
  const dashboard = dashboardOf(Template.fromStack(stack));

  test('lake health comes first: every alarm in one status widget', () => {
    expect(dashboard.widgets[0].properties.markdown).toMatch(/^# Lake health/);
    const status = dashboard.widgets[1];
    expect(status.type).toBe('alarm');
    // 4 fixtures: 5 + 5 + 4 (no lag) + 1 (errors only); NightlyExport: errors + freshness + its own; undelivered alerts
    expect(status.properties.alarms).toHaveLength(5 + 5 + 4 + 1 + 3 + 1);
    expect(status.properties.alarms).toEqual(expect.arrayContaining([expect.stringMatching(/^ATT\(NightlyTooSlow.*\.Arn\)$/)]));
  });

  test('streaming: iterator age as its lag, duplicate ratio among its own metrics', () => {
    const w = section(dashboard, 'clicks');
    expect(w[0].properties.markdown).toBeUndefined();
    expect(titles({ widgets: w })).toEqual([
      'Records ingested', 'Processing errors', 'Iterator age (ms)',
      'Freshness: new data per dataset', 'Dead-letter queue depth', 'Quarantined records',
      '### Stream: iterator age, duplicate ratio', 'Duplicate ratio',
    ]);
    expect(metricNamesOf(w[2])).toEqual(['clicks-lag']);
    expect(metricNamesOf(w[7])).toEqual(['clicks-Duplicateratio']);
    // the lag threshold is drawn where the alarm is
    expect(w[2].properties.annotations.horizontal[0].value).toBe(900000);
  });

  test('CDC: CDC latency, merge duration', () => {
    const t = titles({ widgets: section(dashboard, 'orders') });
    expect(t).toEqual(expect.arrayContaining(['Changes captured', 'Task and merge errors', 'CDC latency (ms)',
      '### CDC: replication latency, merge duration', 'Merge duration', 'Rows merged']));
  });

  test('API pull: run outcomes and pages, no lag widget without a lag metric', () => {
    const t = titles({ widgets: section(dashboard, 'weather') });
    expect(t).toEqual(expect.arrayContaining(['Records pulled', 'Failed runs', '### Runs: outcomes, pages pulled', 'Pages pulled']));
    expect(t.some((x) => /\(ms\)/.test(x))).toBe(false);
  });

  test('serving: queries and failed queries; Athena bytes scanned and failed queries of the workgroup', () => {
    expect(titles({ widgets: section(dashboard, 'reports') })).toEqual(['Queries', 'Failed queries']);
    const athena = section(dashboard, 'Serving: Athena workgroup analysts');
    expect(titles({ widgets: athena })).toEqual(['Athena bytes scanned', 'Athena failed queries']);
    expect(JSON.stringify(athena[0].properties.metrics)).toContain('MetricName=\\"ProcessedBytes\\" WorkGroup=\\"analysts\\"');
    expect(JSON.stringify(athena[1].properties.metrics)).toContain('QueryState=\\"FAILED\\" WorkGroup=\\"analysts\\"');
  });

  test('a user\'s own pipeline of its own kind shows up, read generically', () => {
    const w = section(dashboard, 'nightly-export');
    expect(titles({ widgets: w })).toEqual([
      'Throughput', 'Errors', 'Freshness: new data per dataset', '### More metrics (batch-export)', 'Export duration',
    ]);
    expect(metricNamesOf(w[0])).toEqual(['RowsExported']);
    // failure events counted next to the errors
    expect(JSON.stringify(w[1].properties.metrics)).toContain('TriggeredRules');
  });
});

describe('a user-defined pipeline gets alarms and alerts', () => {
  const stack = newStack();
  const nightly = new NightlyExport(stack, 'Nightly');
  const obs = observe(stack, [nightly]);
  const template = Template.fromStack(stack);

  test('errors and freshness alarms on its metrics (1 day interval)', () => {
    expect(alarmOn(template, 'ExportErrors').Threshold).toBe(0);
    expect(alarmOn(template, 'ExportFiles')).toMatchObject({ Period: 86400, TreatMissingData: 'breaching' });
  });

  test('its own alarm is routed to the topic and composed into "lake unhealthy"', () => {
    const own = template.toJSON().Resources[stack.getLogicalId(nightly.ownAlarm.node.defaultChild as cloudwatch.CfnAlarm)];
    expect(own.Properties.AlarmActions).toEqual([{ Ref: stack.getLogicalId(obs.topic.node.defaultChild as sns.CfnTopic) }]);
    const composite = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties.AlarmRule);
    expect(composite).toContain(stack.getLogicalId(nightly.ownAlarm.node.defaultChild as cloudwatch.CfnAlarm));
    expect(obs.watchedPipeline('nightly-export').alarms).toContain(nightly.ownAlarm);
  });

  test('its Step Functions failure pattern becomes a rule to the topic with a readable message', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        'detail': { stateMachineArn: ['arn:aws:states:us-east-1:111111111111:stateMachine:nightly'], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      Targets: [Match.objectLike({
        Arn: { Ref: stack.getLogicalId(obs.topic.node.defaultChild as sns.CfnTopic) },
        InputTransformer: {
          InputPathsMap: Match.objectLike({ 'detail-executionArn': '$.detail.executionArn', 'detail-status': '$.detail.status', 'detail-cause': '$.detail.cause' }),
          InputTemplate: Match.stringLikeRegexp('Pipeline \\\\"nightly-export\\\\" failed .* Execution <detail-executionArn> ended <detail-status>: <detail-cause>'),
        },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [stack.getLogicalId(obs.eventTargetDeadLetterQueue.node.defaultChild as sqs.CfnQueue), 'Arn'] } },
        RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 8 },
      })],
    });
  });
});

describe('failure events of each service', () => {
  test('Glue FAILED/TIMEOUT, DMS failed/stopped and a custom pattern each become a rule', () => {
    const stack = newStack();
    const custom: events.EventPattern = { source: ['my.app'], detailType: ['Export Failed'] };
    const p = pipelineOf(stack, 'orders', PipelineKind.CDC, [], {
      events: [FailureEvents.glueJob(['orders-merge']), FailureEvents.dmsTask(['arn:aws:dms:us-east-1:111111111111:task:ABC']), custom],
    });
    const obs = observe(stack, [p]);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Events::Rule', 3);
    expect(obs.watchedPipeline('orders').failureRules).toHaveLength(3);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': ['aws.glue'], 'detail-type': ['Glue Job State Change'], 'detail': { jobName: ['orders-merge'], state: ['FAILED', 'TIMEOUT', 'ERROR'] } },
      Targets: [Match.objectLike({ InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('Glue job <detail-jobName> run <detail-jobRunId> ended <detail-state>') }) })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'source': ['aws.dms'],
        'detail-type': ['DMS Replication Task State Change'],
        'resources': ['arn:aws:dms:us-east-1:111111111111:task:ABC'],
        'detail': { eventType: ['REPLICATION_TASK_FAILED', 'REPLICATION_TASK_STOPPED'] },
      },
      Targets: [Match.objectLike({ InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('DMS <detail-eventType> on <resources-0->: <detail-detailMessage>') }) })],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'source': ['my.app'], 'detail-type': ['Export Failed'] },
      Targets: [Match.objectLike({ InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('Source <source>') }) })],
    });
  });
});

describe('the alert topic', () => {
  const stack = newStack();
  const chat = new sns.Topic(stack, 'ChatOps', { enforceSSL: true });
  const obs = observe(stack, [pipelineOf(stack, 'orders', PipelineKind.STREAMING, [])], {
    emailSubscriptions: ['oncall@example.com'],
    alarmActions: [new cw_actions.SnsAction(chat)],
  });
  const template = Template.fromStack(stack);
  const topicRef = { Ref: stack.getLogicalId(obs.topic.node.defaultChild as sns.CfnTopic) };

  test('is KMS-encrypted with a rotated key CloudWatch and EventBridge may use', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Sid: 'AlarmsAndEventsPublishToTheAlertTopic',
          Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        })]),
      },
    });
  });

  test('accepts TLS only', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('has the email subscription', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: topicRef });
  });

  test('every alarm sends to the topic and to the user\'s own actions', () => {
    const chatRef = { Ref: stack.getLogicalId(chat.node.defaultChild as sns.CfnTopic) };
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef, chatRef]);
    }
  });

  test('the composite "lake unhealthy" alarm covers every alarm and notifies on recovery', () => {
    const composite = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties;
    expect(composite.OKActions).toContainEqual(topicRef);
    const rule = JSON.stringify(composite.AlarmRule);
    for (const id of Object.keys(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(rule).toContain(`"${id}"`);
    }
  });

  test('notifyOnRecovery: false leaves the composite without OK actions', () => {
    const s = newStack();
    observe(s, [pipelineOf(s, 'o', PipelineKind.CUSTOM, [])], { notifyOnRecovery: false });
    const composite = Object.values(Template.fromStack(s).findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties;
    expect(composite.OKActions).toBeUndefined();
  });
});

describe('logs and events into the lake', () => {
  const stack = newStack();
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
  const a = pipelineOf(stack, 'orders', PipelineKind.CDC, [], { events: [FailureEvents.glueJob(['merge'])] });
  const b = pipelineOf(stack, 'clicks', PipelineKind.STREAMING, []);
  const obs = observe(stack, [a, b], { lake });
  const template = Template.fromStack(stack);
  const rawBucket = stack.getLogicalId(lake.raw.bucket.node.defaultChild as s3.CfnBucket);
  const firehoseOf = (id: string) => Object.entries(template.findResources('AWS::KinesisFirehose::DeliveryStream')).find(([k]) => k.startsWith(id))!;

  test('each pipeline log group is subscribed to the logs Firehose with one shared, trusted role', () => {
    template.resourceCountIs('AWS::Logs::SubscriptionFilter', 2);
    const [logsStreamId] = firehoseOf('ObservabilityLogsToLake');
    for (const group of [...a.logGroups, ...b.logGroups]) {
      template.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
        LogGroupName: { Ref: stack.getLogicalId(group.node.defaultChild as logs.CfnLogGroup) },
        DestinationArn: { 'Fn::GetAtt': [logsStreamId, 'Arn'] },
        FilterPattern: '',
        RoleArn: { 'Fn::GetAtt': [stack.getLogicalId(obs.logSubscriptionRole!.node.defaultChild as any), 'Arn'] },
      });
    }
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({
          Principal: { Service: 'logs.amazonaws.com' },
          Condition: { StringLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:us-east-1:111111111111:*']] } } },
        })],
      },
    });
  });

  test('the logs land decompressed, one JSON line per batch, GZIP and the lake key, under _ops/<logsTableName>/', () => {
    const [, stream] = firehoseOf('ObservabilityLogsToLake');
    const destination = stream.Properties.ExtendedS3DestinationConfiguration;
    expect(destination).toMatchObject({
      BucketARN: { 'Fn::GetAtt': [rawBucket, 'Arn'] },
      Prefix: '_ops/observability_logs/day=!{timestamp:yyyy-MM-dd}/',
      ErrorOutputPrefix: '_ops/observability_logs-delivery-errors/!{firehose:error-output-type}/day=!{timestamp:yyyy-MM-dd}/',
      CompressionFormat: 'GZIP',
      EncryptionConfiguration: { KMSEncryptionConfig: { AWSKMSKeyARN: { 'Fn::GetAtt': [stack.getLogicalId(lake.encryptionKey.node.defaultChild as any), 'Arn'] } } },
      ProcessingConfiguration: {
        Enabled: true,
        Processors: [
          { Type: 'Decompression', Parameters: [{ ParameterName: 'CompressionFormat', ParameterValue: 'GZIP' }] },
          { Type: 'AppendDelimiterToRecord', Parameters: [] },
        ],
      },
    });
    expect(stream.Properties.DeliveryStreamEncryptionConfigurationInput).toEqual({ KeyType: 'AWS_OWNED_CMK' });
  });

  test('the Firehose role may only add objects under its prefixes', () => {
    const [logsStreamId, stream] = firehoseOf('ObservabilityLogsToLake');
    const roleId = stream.Properties.ExtendedS3DestinationConfiguration.RoleARN['Fn::GetAtt'][0];
    const policy = Object.values(template.findResources('AWS::IAM::Policy')).find((p) => p.Properties.Roles[0].Ref === roleId)!;
    const statements = policy.Properties.PolicyDocument.Statement;
    expect(statements[0]).toEqual({
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
      Resource: [
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [rawBucket, 'Arn'] }, '/_ops/observability_logs/*']] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [rawBucket, 'Arn'] }, '/_ops/observability_logs-delivery-errors/*']] },
      ],
    });
    expect(JSON.stringify(statements)).not.toContain('s3:DeleteObject');
    expect(logsStreamId).toBeDefined();
  });

  test('a raw table over the logs, partitioned by day with projection', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: 'shop_raw',
      TableInput: Match.objectLike({
        Name: 'observability_logs',
        Parameters: Match.objectLike({ 'projection.enabled': 'true', 'projection.day.type': 'date', 'projection.day.format': 'yyyy-MM-dd' }),
        PartitionKeys: [{ Name: 'day', Type: 'string' }],
        StorageDescriptor: Match.objectLike({
          Location: { 'Fn::Join': ['', ['s3://', { Ref: rawBucket }, '/_ops/observability_logs/']] },
          Columns: Match.arrayWith([
            Match.objectLike({ Name: 'loggroup', Type: 'string' }),
            Match.objectLike({ Name: 'logevents', Type: 'array<struct<id:string,timestamp:bigint,message:string>>' }),
          ]),
        }),
      }),
    });
    expect(obs.logsTable!.tableName).toBe('observability_logs');
  });

  test('failure events land under _ops/<eventsTableName>/ as flat JSON lines, with a raw table', () => {
    const [eventsStreamId, stream] = firehoseOf('ObservabilityEventsToLake');
    expect(stream.Properties.ExtendedS3DestinationConfiguration.Prefix).toBe('_ops/observability_events/day=!{timestamp:yyyy-MM-dd}/');
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: Match.arrayWith([Match.objectLike({
        Arn: { 'Fn::GetAtt': [eventsStreamId, 'Arn'] },
        InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('^\\{"pipeline":"orders","id":<id>,.*"detail":<detail>\\}$') }),
      })]),
    });
    template.hasResourceProperties('AWS::Glue::Table', { TableInput: Match.objectLike({ Name: 'observability_events' }) });
  });

  test('no CloudTrail trail unless asked for', () => {
    template.resourceCountIs('AWS::CloudTrail::Trail', 0);
  });

  test('without a lake nothing is landed', () => {
    const s = newStack();
    const o = observe(s, [pipelineOf(s, 'o', PipelineKind.CUSTOM, [])]);
    const t = Template.fromStack(s);
    t.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 0);
    t.resourceCountIs('AWS::Logs::SubscriptionFilter', 0);
    expect(o.logDeliveryStream).toBeUndefined();
  });

  test('a log group shared by two pipelines is subscribed once', () => {
    const s = newStack();
    const l = new LakehouseTier(s, 'Lake');
    const shared = new logs.LogGroup(s, 'Shared');
    const mk = (name: string) => new DataPipeline(s, name, { pipelineName: name, metrics: { throughput: metric(`${name}t`), errors: metric(`${name}e`) }, logGroups: [shared] });
    observe(s, [mk('one'), mk('two')], { lake: l });
    Template.fromStack(s).resourceCountIs('AWS::Logs::SubscriptionFilter', 1);
  });
});

describe('CloudTrail data events on the lake buckets (opt-in)', () => {
  const stack = newStack();
  const lake = new LakehouseTier(stack, 'Lake');
  observe(stack, [pipelineOf(stack, 'o', PipelineKind.CUSTOM, [])], { lake, cloudTrailDataEvents: true });
  const template = Template.fromStack(stack);
  const arn = (bucket: s3.IBucket, suffix: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket), 'Arn'] }, suffix]] });

  test('object events of the three zones, except CloudTrail\'s own deliveries, landed under _ops/cloudtrail', () => {
    template.hasResourceProperties('AWS::CloudTrail::Trail', {
      S3BucketName: { Ref: stack.getLogicalId(lake.raw.bucket.node.defaultChild as s3.CfnBucket) },
      S3KeyPrefix: '_ops/cloudtrail',
      EnableLogFileValidation: true,
      AdvancedEventSelectors: [{
        Name: 'Lake object access',
        FieldSelectors: [
          { Field: 'eventCategory', Equals: ['Data'] },
          { Field: 'resources.type', Equals: ['AWS::S3::Object'] },
          {
            Field: 'resources.ARN',
            StartsWith: [arn(lake.raw.bucket, '/'), arn(lake.clean.bucket, '/'), arn(lake.curated.bucket, '/')],
            NotStartsWith: [arn(lake.raw.bucket, '/_ops/cloudtrail/')],
          },
        ],
      }],
    });
  });

  test('CloudTrail may encrypt with the lake key for this account\'s trails only', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Sid: 'CloudTrailEncryptsLakeDataEventLogs',
          Principal: { Service: 'cloudtrail.amazonaws.com' },
          Condition: { StringLike: { 'kms:EncryptionContext:aws:cloudtrail:arn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudtrail:*:111111111111:trail/*']] } } },
        })]),
      },
    });
  });
});

describe('other defaults', () => {
  test('the dashboard opens on the last 6 hours; its name is generated unless given', () => {
    const stack = newStack();
    observe(stack, [pipelineOf(stack, 'o', PipelineKind.CUSTOM, [])]);
    const template = Template.fromStack(stack);
    expect((dashboardOf(template) as any).start).toBe('-PT6H');
    expect(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardName).toBeUndefined();

    const named = newStack();
    observe(named, [pipelineOf(named, 'o', PipelineKind.CUSTOM, [])], { dashboardName: 'lake-health', dashboardTimeRange: Duration.days(1) });
    const namedTemplate = Template.fromStack(named);
    namedTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'lake-health' });
    expect((dashboardOf(namedTemplate) as any).start).toBe('-P1D');
  });

  test('Firehose delivery errors are kept one year; table names <id>_logs and <id>_events; no emails', () => {
    const stack = newStack();
    observe(stack, [pipelineOf(stack, 'o', PipelineKind.CUSTOM, [])], { lake: new LakehouseTier(stack, 'Lake') });
    const template = Template.fromStack(stack);
    const errorGroups = Object.entries(template.findResources('AWS::Logs::LogGroup')).filter(([id]) => /^Observability(Logs|Events)ToLakeErrors/.test(id));
    expect(errorGroups.map(([, g]) => g.Properties.RetentionInDays)).toEqual([365, 365]);
    template.hasResourceProperties('AWS::Glue::Table', { TableInput: Match.objectLike({ Name: 'observability_logs' }) });
    template.hasResourceProperties('AWS::Glue::Table', { TableInput: Match.objectLike({ Name: 'observability_events' }) });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('addPipeline after construction', () => {
  test('the later pipeline has its section and is part of the composite', () => {
    const stack = newStack();
    const obs = observe(stack, [pipelineOf(stack, 'first', PipelineKind.CUSTOM, [])]);
    const later = obs.addPipeline(pipelineOf(stack, 'later', PipelineKind.STREAMING, []));
    const template = Template.fromStack(stack);
    const rule = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties.AlarmRule);
    expect(rule).toContain(stack.getLogicalId(later.errorsAlarm!.node.defaultChild as cloudwatch.CfnAlarm));
    expect(section(dashboardOf(template), 'later').length).toBeGreaterThan(0);
    expect(obs.alarms).toContain(later.errorsAlarm);
  });
});

describe('validation names the prop', () => {
  const one = (s: Stack) => [pipelineOf(s, 'orders', PipelineKind.CUSTOM, [])];

  test.each<[string, (s: Stack) => PipelineObservabilityProps, RegExp]>([
    ['negative threshold', (s) => ({ pipelines: one(s), alarmThresholds: { errorsThreshold: -1 } }), /"alarmThresholds\.errorsThreshold": -1 is not a number >= 0/],
    ['fractional evaluation periods', (s) => ({ pipelines: one(s), pipelineOverrides: [{ pipelineName: 'orders', lagEvaluationPeriods: 1.5 }] }), /"pipelineOverrides\[0\]\.lagEvaluationPeriods"/],
    ['zero lag threshold', (s) => ({ pipelines: one(s), alarmThresholds: { lagThreshold: Duration.seconds(0) } }), /"alarmThresholds\.lagThreshold".*alarmOnLag/],
    ['two overrides for one pipeline', (s) => ({ pipelines: one(s), pipelineOverrides: [{ pipelineName: 'orders' }, { pipelineName: 'orders' }] }), /"pipelineOverrides\[1\]\.pipelineName"/],
    ['bad email', (s) => ({ pipelines: one(s), emailSubscriptions: ['oncall'] }), /"emailSubscriptions\[0\]"/],
    ['landing without a lake', (s) => ({ pipelines: one(s), landOpsDataInLake: true }), /"landOpsDataInLake"/],
    ['trail without a lake', (s) => ({ pipelines: one(s), cloudTrailDataEvents: true }), /"cloudTrailDataEvents"/],
    ['bad workgroup', (s) => ({ pipelines: one(s), athenaWorkGroupName: 'a b' }), /"athenaWorkGroupName"/],
    ['bad table name', (s) => ({ pipelines: one(s), lake: new LakehouseTier(s, 'Lake'), logsTableName: 'Ops-Logs' }), /"logsTableName"/],
  ])('%s', (_, props, error) => {
    const stack = newStack();
    expect(() => new PipelineObservability(stack, 'Observability', props(stack))).toThrow(error);
  });

  test('two pipelines with one name', () => {
    const stack = newStack();
    const a = new DataPipeline(stack, 'A', { pipelineName: 'same', metrics: { throughput: metric('t1'), errors: metric('e1') } });
    const b = new DataPipeline(stack, 'B', { pipelineName: 'same', metrics: { throughput: metric('t2'), errors: metric('e2') } });
    expect(() => observe(stack, [a, b])).toThrow(/"pipelines": two pipelines are named "same"/);
  });

  test('a freshness interval no alarm can watch is refused where the user wrote it', () => {
    const stack = newStack();
    expect(() => new DataPipeline(stack, 'A', {
      pipelineName: 'odd',
      metrics: { throughput: metric('t'), errors: metric('e') },
      freshness: [{ dataset: 'x', arrivals: metric('a'), expectedInterval: Duration.seconds(90) }],
    })).toThrow(/DataPipeline: invalid prop "freshness\[0\]\.expectedInterval": 1 minute 30 seconds is not a whole number of minutes/);
  });

  test('a hand-written pipeline with such an interval is refused naming its own field', () => {
    const stack = newStack();
    const odd = new NightlyExport(stack, 'Odd');
    (odd as { freshness: FreshnessSignal[] }).freshness = [{ dataset: 'x', arrivals: metric('a'), expectedInterval: Duration.days(8) }];
    expect(() => observe(stack, [odd])).toThrow(/PipelineObservability \(watching pipeline "nightly-export"\): invalid prop "freshness\[0\]\.expectedInterval": 8 days is longer than 7 days/);
  });

  test('an override naming no watched pipeline fails synthesis', () => {
    const stack = newStack();
    observe(stack, one(stack), { pipelineOverrides: [{ pipelineName: 'ordres', errorsThreshold: 1 }] });
    expect(() => Template.fromStack(stack)).toThrow(/"pipelineOverrides\[0\]\.pipelineName": no watched pipeline is named "ordres".*"orders"/);
  });

  test('no pipeline at all fails synthesis', () => {
    const stack = newStack();
    new PipelineObservability(stack, 'Observability');
    expect(() => Template.fromStack(stack)).toThrow(/"pipelines": no pipeline is watched/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  test('no error or warning with a lake, CloudTrail, every kind and a user pipeline', () => {
    const stack = newStack();
    const lake = new LakehouseTier(stack, 'Lake');
    const pipelines = [
      pipelineOf(stack, 'clicks', PipelineKind.STREAMING, ['Duplicate ratio'], { events: [FailureEvents.glueJob(['j'])] }),
      pipelineOf(stack, 'orders', PipelineKind.CDC, ['Merge duration'], { events: [FailureEvents.dmsTask(['arn:aws:dms:us-east-1:111111111111:task:T'])] }),
      pipelineOf(stack, 'weather', PipelineKind.API_PULL, ['Pages pulled']),
    ];
    const obs = observe(stack, pipelines, { lake, cloudTrailDataEvents: true, emailSubscriptions: ['oncall@example.com'], athenaWorkGroupName: 'primary' });
    obs.addPipeline(new NightlyExport(stack, 'Nightly'));
    // The fixtures' DLQs stand for the pipelines' own (their source queues are not in this stack).
    for (const p of pipelines) {
      for (const q of p.deadLetterQueues) {
        (q.node.defaultChild as sqs.CfnQueue).addMetadata('cdk_nag', { rules_to_suppress: [{ id: 'AwsSolutions-SQS3', reason: 'test fixture standing for a pipeline\'s dead-letter queue' }] });
      }
      for (const g of p.logGroups) {
        (g.node.defaultChild as logs.CfnLogGroup).addMetadata('cdk_nag', { rules_to_suppress: [{ id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted', reason: 'test fixture standing for a pipeline\'s own log group' }] });
      }
    }
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
