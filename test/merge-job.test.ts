/**
 * MergeJob: the one scheduled Glue 5.0 merge job of the three ingestions. Template defaults and
 * overrides, prop validation (generative where the input varies), the merge metrics contract,
 * the access paths evaluated with AWS's policy logic over identity AND resource policies, and
 * cdk-nag.
 */
import * as path from 'path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as fc from 'fast-check';
import { ACCOUNT, Edge, ENV, expectEdge, logsContext, OTHER_ACCOUNT_ROLE, REGION, StackPolicies, scriptObjectArn, UNRELATED_ROLE, viaSqs } from './aws-rules/iam-harness';
import { scheduleRole } from './aws-rules/schedules';
import { acknowledgeUserFixtures, nagFindings } from './nag';
import { FailureEvents, LakehouseTier, MERGE_METRICS_NAMESPACE, MergeJob, MergeJobProps } from '../src';

const SCRIPT = path.join(__dirname, '..', 'src', 'ingestion', 'streaming', 'glue', 'streaming_merge.py');

function build(props: Partial<MergeJobProps> = {}, env = true) {
  const stack = new Stack(new App(), 'Merge', env ? { env: ENV } : undefined);
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const merge = new MergeJob(stack, 'Orders', { lake, pipelineName: 'orders', scriptPath: SCRIPT, ...props });
  return { stack, lake, merge };
}

describe('defaults', () => {
  const { stack, merge } = build();
  const template = Template.fromStack(stack);
  const job = Object.values(template.findResources('AWS::Glue::Job'))[0].Properties;

  test('a Glue 5.0 standard job: 2 × G.1X, 2 hours, no retries, one run at a time with queuing', () => {
    expect(job).toMatchObject({
      GlueVersion: '5.0',
      Command: { Name: 'glueetl', PythonVersion: '3' },
      WorkerType: 'G.1X',
      NumberOfWorkers: 2,
      ExecutionClass: 'STANDARD',
      Timeout: 120,
      MaxRetries: 0,
      ExecutionProperty: { MaxConcurrentRuns: 1 },
      JobRunQueuingEnabled: true,
      Name: merge.jobName,
    });
    expect(merge.jobName).toMatch(/^orders-merge-[A-Za-z0-9]+$/);
    expect(merge.jobName.length).toBeLessThanOrEqual(255);
  });

  test('Iceberg through the Glue catalog, the shared and quality modules with --extra-py-files, the merge metrics namespace and pipeline', () => {
    const args = job.DefaultArguments;
    expect(args['--datalake-formats']).toBe('iceberg');
    const policies = new StackPolicies(stack);
    expect(policies.str(args['--conf'])).toMatch(/IcebergSparkSessionExtensions.*GlueCatalog.*S3FileIO/);
    expect(args['--job-bookmark-option']).toBe('job-bookmark-disable');
    expect(args['--metrics_namespace']).toBe('CdkLakehouse/Merge');
    expect(args['--pipeline_name']).toBe('orders');
    // Glue takes a comma-separated list of S3 paths; both modules are plain .py files.
    const modules = policies.str(args['--extra-py-files']).split(',');
    for (const m of modules) expect(m).toMatch(/^s3:\/\/cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.py$/);
    expect(modules).toEqual([policies.str(merge.sharedModule.s3ObjectUrl), policies.str(merge.qualityModule.s3ObjectUrl)]);
  });

  test('a security configuration: S3 writes with the lake key, logs and bookmarks with a new job key with rotation', () => {
    template.hasResourceProperties('AWS::Glue::SecurityConfiguration', {
      Name: `${merge.jobName}-security`,
      EncryptionConfiguration: {
        S3Encryptions: [{ S3EncryptionMode: 'SSE-KMS', KmsKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] } }],
        CloudWatchEncryption: { CloudWatchEncryptionMode: 'SSE-KMS', KmsKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OrdersKey'), 'Arn'] } },
        JobBookmarksEncryption: { JobBookmarksEncryptionMode: 'CSE-KMS', KmsKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OrdersKey'), 'Arn'] } },
      },
    });
    template.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true, Description: Match.stringLikeRegexp('^Merge job of orders') }, DeletionPolicy: 'Retain' });
  });

  test('no schedule, no dead-letter queue unless asked', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    template.resourceCountIs('AWS::SQS::Queue', 0);
    expect(merge.schedules).toEqual([]);
    expect(merge.scheduleDeadLetterQueue).toBeUndefined();
    expect(merge.scheduleDeadLetterAlarm).toBeUndefined();
  });

  test('the failure event is FailureEvents.glueJob of the job', () => {
    expect(merge.failureEvent).toEqual(FailureEvents.glueJob([merge.jobName]));
  });

  test('metrics: CdkLakehouse/Merge, dimension Pipeline, Table added per curated table', () => {
    const stat = (m: { toMetricConfig(): any }) => {
      const config = stack.resolve(m.toMetricConfig().metricStat);
      return { ...config, period: m.toMetricConfig().metricStat.period.toSeconds() };
    };
    expect(MERGE_METRICS_NAMESPACE).toBe('CdkLakehouse/Merge');
    const cases: Array<[any, string, string]> = [
      [merge.metricRowsMerged(), 'RowsMerged', 'Sum'],
      [merge.metricQuarantined(), 'RowsQuarantined', 'Sum'],
      [merge.metricTablesFailed(), 'TablesFailed', 'Sum'],
      [merge.metricTableCommits(), 'TableCommits', 'Sum'],
      [merge.metricRunTime(), 'RunSeconds', 'Maximum'],
      [merge.metricCommitAge(), 'CommitAgeSeconds', 'Maximum'],
    ];
    for (const [metric, name, statistic] of cases) {
      expect(stat(metric)).toEqual({ namespace: 'CdkLakehouse/Merge', metricName: name, statistic, period: 300, dimensions: [{ name: 'Pipeline', value: 'orders' }] });
    }
    expect(stat(merge.metricTableCommits({ dimensionsMap: { Table: 'orders_public_orders' }, period: Duration.hours(1) }))).toEqual({
      namespace: 'CdkLakehouse/Merge',
      metricName: 'TableCommits',
      statistic: 'Sum',
      period: 3600,
      dimensions: [{ name: 'Pipeline', value: 'orders' }, { name: 'Table', value: 'orders_public_orders' }],
    });
  });
});

describe('overrides', () => {
  test('workers, Flex (not queued), timeout, retries, concurrency, connections, own key, arguments', () => {
    const stack = new Stack(new App(), 'Merge', { env: ENV });
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
    const key = new kms.Key(stack, 'MyKey', { enableKeyRotation: true });
    new MergeJob(stack, 'Orders', {
      lake,
      pipelineName: 'orders',
      scriptPath: SCRIPT,
      jobNamePrefix: 'shop-cdc-merge',
      description: 'my merge',
      workerType: 'G.2X',
      numberOfWorkers: 10,
      flex: true,
      timeout: Duration.hours(6),
      maxRetries: 1,
      maxConcurrentRuns: 3,
      jobEncryptionKey: key,
      connections: ['my-connection'],
      arguments: { '--tables': '[]', '--metrics_namespace': 'ignored-by-nobody' },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const template = Template.fromStack(stack);
    const job = Object.values(template.findResources('AWS::Glue::Job'))[0].Properties;
    expect(job).toMatchObject({
      Name: expect.stringMatching(/^shop-cdc-merge-/),
      Description: 'my merge',
      WorkerType: 'G.2X',
      NumberOfWorkers: 10,
      ExecutionClass: 'FLEX',
      Timeout: 360,
      MaxRetries: 1,
      ExecutionProperty: { MaxConcurrentRuns: 3 },
      Connections: { Connections: ['my-connection'] },
    });
    expect(job.JobRunQueuingEnabled).toBeUndefined();
    // The script's own arguments come last: a caller may override what the construct sets.
    expect(job.DefaultArguments['--tables']).toBe('[]');
    expect(job.DefaultArguments['--metrics_namespace']).toBe('ignored-by-nobody');
    // Only the user's key and the lake key: no job key created.
    template.resourceCountIs('AWS::KMS::Key', 2);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['ec2:CreateNetworkInterface']), Resource: '*' })]) },
    });
  });

  test('schedules share one dead-letter queue (KMS, TLS-only, 14 days) with an alarm and one retry policy', () => {
    const { stack, merge } = build({ schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)) });
    merge.addSchedule('PullInvoices', { schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }), arguments: { '--only_table': 'invoices' } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResource('AWS::SQS::Queue', {
      Properties: { MessageRetentionPeriod: 1_209_600, KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OrdersKey'), 'Arn'] } },
      DeletionPolicy: 'Retain',
    });
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties);
    expect(schedules.map((s) => s.ScheduleExpression).sort()).toEqual(['cron(0 3 * * ? *)', 'rate(1 hour)']);
    for (const s of schedules) {
      expect(s.Target.RetryPolicy).toEqual({ MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 });
      expect(s.Target.DeadLetterConfig.Arn).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(merge.scheduleDeadLetterQueue!.node.defaultChild as any), 'Arn'] });
    }
    expect(schedules.map((s) => JSON.parse(s.Target.Input))).toEqual(expect.arrayContaining([
      { JobName: merge.jobName },
      { JobName: merge.jobName, Arguments: { '--only_table': 'invoices' } },
    ]));
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', MetricName: 'ApproximateNumberOfMessagesVisible', TreatMissingData: 'notBreaching',
    });
    expect(merge.schedules).toHaveLength(2);
  });

  test('grantStartRun gives start, get and stop on this job only', () => {
    const { stack, merge } = build();
    const role = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    merge.grantStartRun(role);
    const p = new StackPolicies(stack);
    const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .find((r) => JSON.stringify(r.Properties.Roles).includes(stack.getLogicalId(role.node.defaultChild as iam.CfnRole)))!;
    expect(p.resolve(policy.Properties.PolicyDocument.Statement)).toEqual([{
      Action: ['glue:StartJobRun', 'glue:GetJobRun', 'glue:GetJobRuns', 'glue:BatchStopJobRun'],
      Effect: 'Allow',
      Resource: `arn:aws:glue:${REGION}:${ACCOUNT}:job/${merge.jobName}`,
    }]);
  });
});

describe('validation: invalid props throw at synth time, naming the prop and the fix', () => {
  test.each<[string, Partial<MergeJobProps>, RegExp]>([
    ['pipelineName', { pipelineName: '' }, /MergeJob: invalid prop "pipelineName".*Fix:/],
    ['scriptPath', { scriptPath: '/tmp/merge.scala' }, /"scriptPath".*not a \.py file/],
    ['jobNamePrefix', { jobNamePrefix: 'has space' }, /"jobNamePrefix"/],
    ['workerType', { workerType: 'G.3X' }, /"workerType".*G\.1X/],
    ['flex on G.4X', { flex: true, workerType: 'G.4X' }, /"flex".*G\.1X or G\.2X/],
    ['timeout', { timeout: Duration.days(8) }, /"timeout".*10080/],
    ['maxRetries', { maxRetries: 11 }, /"maxRetries"/],
    ['maxConcurrentRuns', { maxConcurrentRuns: 0 }, /"maxConcurrentRuns"/],
    ['schedule', { schedule: scheduler.ScheduleExpression.expression('rate(2 hour)') }, /"schedule".*does not parse/],
  ])('%s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  test('numberOfWorkers: accepted exactly when a whole number from 2 to 10000 (generative)', () => {
    fc.assert(fc.property(fc.oneof(fc.integer({ min: -5, max: 12_000 }), fc.double({ min: -5, max: 50, noNaN: true })), (n) => {
      const valid = Number.isInteger(n) && n >= 2 && n <= 10_000;
      let error: Error | undefined;
      try {
        build({ numberOfWorkers: n });
      } catch (e) {
        error = e as Error;
      }
      expect(error === undefined).toBe(valid);
      if (error) expect(error.message).toMatch(/"numberOfWorkers".*Fix: give at least 2 workers/);
    }), { seed: 15, numRuns: 40 });
  });

  test('timeout: accepted exactly when a whole number of minutes from 1 to 10080 (generative)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 12_000 }), fc.boolean(), (seconds, asMinutes) => {
      const timeout = asMinutes ? Duration.minutes(seconds) : Duration.seconds(seconds);
      const minutes = timeout.toMinutes({ integral: false });
      const valid = Number.isInteger(minutes) && minutes >= 1 && minutes <= 10_080;
      if (valid) expect(() => build({ timeout })).not.toThrow();
      else expect(() => build({ timeout })).toThrow(/"timeout"/);
    }), { seed: 15, numRuns: 40 });
  });
});

describe('access paths (iam-simulate over identity AND resource policies)', () => {
  const { stack, lake, merge } = build({ schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)) });
  lake.curated.grantReadWrite(merge.role, 'orders/');
  const p = new StackPolicies(stack);
  const s = (t: unknown) => p.str(t);
  const role = s(merge.role.roleArn);
  const jobKey = s(merge.jobEncryptionKey.keyArn);
  const dlq = s(merge.scheduleDeadLetterQueue!.queueArn);
  const scheduler_ = scheduleRole(p, merge.schedules[0]);
  const job = `arn:aws:glue:${REGION}:${ACCOUNT}:job/${merge.jobName}`;
  const glueLogs = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/jobs/logs-v2-security`;
  const edges: Edge[] = [
    { name: 'the job reads its script', who: role, action: 's3:GetObject', resource: scriptObjectArn(p, merge.job), expect: 'allow', why: 'job script asset' },
    { name: 'the job reads the shared module', who: role, action: 's3:GetObject', resource: `arn:aws:s3:::${s(merge.sharedModule.s3ObjectUrl).replace(/^s3:\/\//, '')}`, expect: 'allow', why: '--extra-py-files' },
    { name: 'the job reads the quality module', who: role, action: 's3:GetObject', resource: `arn:aws:s3:::${s(merge.qualityModule.s3ObjectUrl).replace(/^s3:\/\//, '')}`, expect: 'allow', why: '--extra-py-files' },
    { name: 'the job writes Glue logs', who: role, action: 'logs:PutLogEvents', resource: `${glueLogs}:log-stream:jr_1`, expect: 'allow', why: 'continuous logging' },
    { name: 'the job associates its key with its log group', who: role, action: 'logs:AssociateKmsKey', resource: glueLogs, expect: 'allow', why: 'security configuration' },
    { name: 'CloudWatch Logs encrypts Glue logs with the job key', who: `logs.${REGION}.amazonaws.com`, action: 'kms:GenerateDataKey', resource: jobKey, context: logsContext(glueLogs), expect: 'allow', why: 'KMS-associated Glue log groups' },
    { name: 'the job publishes merge metrics', who: role, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'CdkLakehouse/Merge' }, expect: 'allow', why: 'the shared merge metrics' },
    { name: 'the job publishes Glue metrics', who: role, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'Glue' }, expect: 'allow', why: '--enable-metrics' },
    { name: 'the job cannot publish elsewhere', who: role, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'Other' }, expect: 'deny', why: 'namespace condition' },
    { name: 'the job writes what it was granted', who: role, action: 's3:PutObject', resource: `${s(lake.curated.bucket.bucketArn)}/orders/data/x.parquet`, expect: 'allow', why: 'the caller\'s grant' },
    { name: 'the job writes nothing else', who: role, action: 's3:PutObject', resource: `${s(lake.curated.bucket.bucketArn)}/other/x.parquet`, expect: 'deny', why: 'data access is the caller\'s grant only' },
    { name: 'the schedule starts the job', who: scheduler_, action: 'glue:StartJobRun', resource: job, expect: 'allow', why: 'the schedule target' },
    { name: 'the schedule starts no other job', who: scheduler_, action: 'glue:StartJobRun', resource: `arn:aws:glue:${REGION}:${ACCOUNT}:job/other`, expect: 'deny', why: 'least privilege' },
    { name: 'the schedule sends to its DLQ', who: scheduler_, action: 'sqs:SendMessage', resource: dlq, expect: 'allow', why: 'an undelivered start lands in the DLQ' },
    { name: 'the schedule gets a data key of the DLQ key', who: scheduler_, action: 'kms:GenerateDataKey', resource: jobKey, context: viaSqs(dlq), expect: 'allow', why: 'SQS SSE-KMS sender' },
    { name: 'the schedule decrypts with the DLQ key', who: scheduler_, action: 'kms:Decrypt', resource: jobKey, context: viaSqs(dlq), expect: 'allow', why: 'SQS SSE-KMS sender (reused data keys)' },
    { name: 'the schedule cannot send without TLS', who: scheduler_, action: 'sqs:SendMessage', resource: dlq, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only queue' },
    { name: 'an unrelated role cannot start the job', who: UNRELATED_ROLE, action: 'glue:StartJobRun', resource: job, expect: 'deny', why: 'nothing granted' },
    { name: 'another account cannot send to the DLQ', who: OTHER_ACCOUNT_ROLE, action: 'sqs:SendMessage', resource: dlq, expect: 'deny', why: 'no cross-account access' },
  ];
  test.each(edges.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});

describe('cdk-nag', () => {
  test.each([true, false])('a scheduled MergeJob with a grant: no error or warning left (concrete env: %s)', (env) => {
    const { stack, lake, merge } = build({ schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)) }, env);
    lake.curated.grantReadWrite(merge.role, 'orders/');
    lake.raw.grantRead(merge.role, 'orders/');
    const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    merge.grantStartRun(operator);
    acknowledgeUserFixtures({ grantees: [operator] });
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
