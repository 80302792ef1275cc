import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as fc from 'fast-check';
import {
  ApiPullIngestion, CdcIngestion, DataPipeline, LakehouseTier, PipelineObservability, StreamingDedupIngestion,
} from '../src';

/**
 * Issue 13, items 3 and 6: freshness for any interval a construct accepts, one range for all of
 * them; and alarms a pipeline owns in another stack notify the alert topic, with no cycle.
 */
jest.setTimeout(300_000);

const ENV = { account: '111111111111', region: 'eu-west-1' };

function metric(name: string) {
  return new cloudwatch.Metric({ namespace: 'Test', metricName: name, statistic: 'Sum', period: Duration.minutes(5) });
}

/**
 * CloudWatch's rule for an alarm's evaluation range (PutMetricAlarm, Period): a multiple of 60 s;
 * "Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For alarms with a
 * period of less than one hour (3,600 seconds), the total evaluation period can't be longer than
 * one day (86,400 seconds)."
 */
function cloudWatchAccepts(period: number, evaluationPeriods: number, datapointsToAlarm: number): boolean {
  const total = period * evaluationPeriods;
  return period % 60 === 0 && period >= 60 && Number.isInteger(evaluationPeriods) && evaluationPeriods >= 1
    && datapointsToAlarm >= 1 && datapointsToAlarm <= evaluationPeriods
    && total <= 604_800 && (period >= 3600 || total <= 86_400);
}

function freshnessAlarm(interval: Duration) {
  const stack = new Stack(new App(), 'S', { env: ENV });
  const pipeline = new DataPipeline(stack, 'P', {
    pipelineName: 'p',
    metrics: { throughput: metric('t'), errors: metric('e') },
    freshness: [{ dataset: 'd', arrivals: metric('arrivals'), expectedInterval: interval }],
  });
  new PipelineObservability(stack, 'Obs', { pipelines: [pipeline], alarmThresholds: { alarmOnErrors: false } });
  const alarms = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'))
    .map((a: any) => a.Properties).filter((p: any) => /no new data/.test(p.AlarmDescription));
  expect(alarms).toHaveLength(1);
  return alarms[0];
}

// Accepted: whole minutes up to a day, whole hours up to 7 days.
const acceptedInterval = fc.oneof(
  fc.integer({ min: 1, max: 1440 }).map((m) => Duration.minutes(m)),
  fc.integer({ min: 25, max: 168 }).map((h) => Duration.hours(h)),
);
// Refused: under a minute, not whole minutes, beyond a day and not whole hours, beyond 7 days.
const refusedInterval = fc.oneof(
  fc.integer({ min: 1, max: 59 }).map((s) => Duration.seconds(s)),
  fc.integer({ min: 1, max: 1440 * 60 }).filter((s) => s % 60 !== 0).map((s) => Duration.seconds(s)),
  fc.integer({ min: 1441, max: 7 * 1440 }).filter((m) => m % 60 !== 0).map((m) => Duration.minutes(m)),
  fc.integer({ min: 169, max: 24 * 400 }).map((h) => Duration.hours(h)),
);

describe('freshness for any interval a construct accepts', () => {
  test('every accepted interval becomes an alarm CloudWatch accepts that watches exactly that interval', () => {
    fc.assert(fc.property(acceptedInterval, (interval) => {
      const alarm = freshnessAlarm(interval);
      const period = alarm.Period;
      expect(cloudWatchAccepts(period, alarm.EvaluationPeriods, alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods)).toBe(true);
      // Every period of the interval must be empty (N of N), missing data counting as empty.
      expect(period * alarm.EvaluationPeriods).toBe(interval.toSeconds());
      expect(alarm.DatapointsToAlarm ?? 1).toBe(alarm.EvaluationPeriods);
      expect([alarm.Statistic, alarm.ComparisonOperator, alarm.Threshold, alarm.TreatMissingData]).toEqual(['Sum', 'LessThanThreshold', 1, 'breaching']);
    }), { seed: 3, numRuns: 40 });
  });

  test('the issue\'s 2-day and 7-day intervals: hourly periods, all of them empty', () => {
    expect([2, 7].map((d) => freshnessAlarm(Duration.days(d))).map((a) => [a.Period, a.EvaluationPeriods, a.DatapointsToAlarm]))
      .toEqual([[3600, 48, 48], [3600, 168, 168]]);
  });

  test('every refused interval is refused where the user wrote it, naming the prop', () => {
    fc.assert(fc.property(refusedInterval, (interval) => {
      const stack = new Stack(new App(), 'S');
      expect(() => new DataPipeline(stack, 'P', {
        pipelineName: 'p',
        metrics: { throughput: metric('t'), errors: metric('e') },
        freshness: [{ dataset: 'd', arrivals: metric('a'), expectedInterval: interval }],
      })).toThrow(/^DataPipeline: invalid prop "freshness\[0\]\.expectedInterval": .*Fix: give whole minutes from Duration\.minutes\(1\) to Duration\.days\(1\), or whole hours up to Duration\.days\(7\)\.$/);
    }), { seed: 4, numRuns: 200 });
  });

  describe('every construct accepts the same range and names its own prop', () => {
    const scaffold = () => {
      const stack = new Stack(new App(), 'S', { env: ENV });
      const lake = new LakehouseTier(stack, 'Lake');
      return { stack, lake };
    };
    const cdc = (interval: Duration) => {
      const { stack, lake } = scaffold();
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
      return new CdcIngestion(stack, 'Cdc', {
        lake,
        pipelineName: 'shop',
        vpc,
        source: { secret: new secretsmanager.Secret(stack, 'Db'), databaseName: 'shop' },
        tables: [{ name: 'public.orders', primaryKey: ['id'], expectedInterval: interval }],
      });
    };
    const api = (interval: Duration | undefined, schedule = scheduler.ScheduleExpression.rate(Duration.hours(1))) => {
      const { stack, lake } = scaffold();
      return new ApiPullIngestion(stack, 'Api', {
        lake,
        pipelineName: 'api',
        endpoints: [{ name: 'items', url: 'https://api.example.com/items', schedule, recordIdField: 'id', expectedInterval: interval }],
      });
    };
    const streaming = (interval: Duration) => {
      const { stack, lake } = scaffold();
      return new StreamingDedupIngestion(stack, 'Events', { lake, expectedInterval: interval });
    };

    test.each([
      ['CdcIngestion', 'tables[0].expectedInterval', cdc],
      ['ApiPullIngestion', 'endpoints[0].expectedInterval', api],
      ['StreamingDedupIngestion', 'expectedInterval', streaming],
    ] as const)('%s: 7 days and 1 minute accepted; 8 days, 90 seconds and 25.5 hours refused, naming "%s"', (name, prop, make) => {
      expect(make(Duration.days(7)).freshness[0].expectedInterval.toDays()).toBe(7);
      expect(make(Duration.minutes(1)).freshness[0].expectedInterval.toMinutes()).toBe(1);
      for (const [bad, why] of [[Duration.days(8), 'longer than 7 days'], [Duration.seconds(90), 'not a whole number of minutes'], [Duration.minutes(25 * 60 + 30), 'longer than a day but not a whole number of hours']] as const) {
        expect(() => make(bad)).toThrow(new RegExp(`^${name}: invalid prop "${prop.replace(/[[\].]/g, '\\$&')}": .* is ${why}`));
      }
      // toHumanString() rounds 25.5 hours to "1 day 1 hour": the message adds the exact seconds.
      expect(() => make(Duration.minutes(25 * 60 + 30))).toThrow('1 day 1 hour (91800 seconds) is longer than a day');
    });

    test('ApiPullIngestion defaults: twice the rate (daily → 2 days), capped at 7 days; a weekly cron → 7 days', () => {
      const defaults = [
        scheduler.ScheduleExpression.rate(Duration.days(1)),
        scheduler.ScheduleExpression.rate(Duration.days(5)),
        scheduler.ScheduleExpression.rate(Duration.minutes(2)),
        scheduler.ScheduleExpression.cron({ minute: '0', hour: '3', weekDay: 'MON' }),
        scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }),
      ].map((s) => api(undefined, s).freshness[0].expectedInterval.toMinutes());
      expect(defaults).toEqual([2 * 1440, 7 * 1440, 10, 7 * 1440, 1440]);
    });

    test('a daily API pull with its default freshness and a weekly CDC table are watched by PipelineObservability', () => {
      const daily = api(undefined, scheduler.ScheduleExpression.rate(Duration.days(1)));
      const weekly = cdc(Duration.days(7));
      const stack = new Stack(new App(), 'Obs', { env: ENV });
      const obs = new PipelineObservability(stack, 'Obs', { pipelines: [daily, weekly] });
      expect(obs.watchedPipelines.flatMap((w) => w.freshnessAlarms).length).toBe(2);
    });
  });
});

describe('alarms a pipeline owns in another stack', () => {
  function twoStacks(props: { topicName?: string; pipelineEnv?: typeof ENV } = {}) {
    const app = new App();
    const pipelineStack = new Stack(app, 'PipelineStack', { env: props.pipelineEnv ?? ENV });
    const ownAlarm = new cloudwatch.Alarm(pipelineStack, 'Own', { metric: metric('own'), threshold: 1, evaluationPeriods: 1 });
    const pipeline = new DataPipeline(pipelineStack, 'P', {
      pipelineName: 'nightly', metrics: { throughput: metric('t'), errors: metric('e') }, alarms: [ownAlarm],
    });
    const obsStack = new Stack(app, 'ObsStack', { env: ENV });
    const obs = new PipelineObservability(obsStack, 'Obs', { pipelines: [pipeline], topicName: props.topicName });
    return { app, pipelineStack, obsStack, obs };
  }

  test('get the alert topic as their action, by an ARN built from its name: no reference back, no cycle', () => {
    const { app, pipelineStack, obsStack } = twoStacks();
    const assembly = app.synth();
    const topicName = Template.fromStack(obsStack).findResources('AWS::SNS::Topic');
    const name = (Object.values(topicName)[0] as any).Properties.TopicName;
    expect(name).toMatch(/^ObsStack-Obs-Topic-[A-Za-z0-9]+$/);
    Template.fromStack(pipelineStack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:sns:eu-west-1:111111111111:${name}`]] }],
    });
    // The pipeline stack does not depend on the observability stack (that would close a cycle).
    expect(assembly.getStackByName('PipelineStack').dependencies.map((d) => d.id)).not.toContain('ObsStack');
    expect(assembly.getStackByName('ObsStack').dependencies.map((d) => d.id)).toContain('PipelineStack');
  });

  test('a given topicName is used; in one stack the topic keeps a generated name', () => {
    const { obsStack } = twoStacks({ topicName: 'lake-alerts-dev' });
    Template.fromStack(obsStack).hasResourceProperties('AWS::SNS::Topic', { TopicName: 'lake-alerts-dev' });
    const single = new Stack(new App(), 'Single', { env: ENV });
    const own = new cloudwatch.Alarm(single, 'Own', { metric: metric('own'), threshold: 1, evaluationPeriods: 1 });
    const p = new DataPipeline(single, 'P', { pipelineName: 'p', metrics: { throughput: metric('t'), errors: metric('e') }, alarms: [own] });
    new PipelineObservability(single, 'Obs', { pipelines: [p] });
    const template = Template.fromStack(single);
    template.hasResourceProperties('AWS::SNS::Topic', { TopicName: Match.absent() });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: Match.stringLikeRegexp('^ObsTopic') }], Threshold: 1 });
  });

  test('an invalid topicName is refused, naming the prop', () => {
    expect(() => twoStacks({ topicName: 'lake alerts' })).toThrow(/PipelineObservability: invalid prop "topicName": "lake alerts" is not an SNS topic name/);
  });

  test('a pipeline in another account cannot notify the topic: refused, naming the prop', () => {
    expect(() => twoStacks({ pipelineEnv: { account: '222222222222', region: 'eu-west-1' } }))
      .toThrow(/PipelineObservability: invalid prop "pipelines": a pipeline alarm in stack PipelineStack \(account 222222222222\) cannot notify the alert topic in 111111111111/);
  });
});

describe('a pipeline of another stack is watched without importing anything from it', () => {
  /** A pipeline built from real resources (queue, log group, alarm, a failure pattern naming the queue's ARN). */
  function watched(layout: 'two stacks' | 'one stack', extra?: (pipelineStack: Stack) => cloudwatch.IMetric) {
    const app = new App();
    const pipelineStack = new Stack(app, 'PipelineStack', { env: ENV });
    const obsStack = layout === 'two stacks' ? new Stack(app, 'ObsStack', { env: ENV }) : pipelineStack;
    const queue = new sqs.Queue(pipelineStack, 'Work');
    const dlq = new sqs.Queue(pipelineStack, 'Dlq');
    const group = new logs.LogGroup(pipelineStack, 'Logs');
    const own = new cloudwatch.Alarm(pipelineStack, 'Own', { metric: queue.metricNumberOfMessagesSent(), threshold: 1, evaluationPeriods: 1 });
    const pipeline = new DataPipeline(pipelineStack, 'P', {
      pipelineName: 'nightly',
      metrics: {
        throughput: queue.metricNumberOfMessagesReceived(),
        errors: queue.metricApproximateAgeOfOldestMessage(),
        additional: extra ? [{ label: 'extra', metric: extra(pipelineStack) }] : undefined,
      },
      deadLetterQueues: [dlq],
      alarms: [own],
      logGroups: [group],
      failureEvents: [{ source: ['aws.sqs'], resources: [queue.queueArn] }],
    });
    const obs = new PipelineObservability(obsStack, 'Obs', { pipelines: [pipeline] });
    app.synth();
    const pipelineTemplate = Template.fromStack(pipelineStack).toJSON();
    return { pipelineStack, obsStack, obs, pipeline: pipelineTemplate, observability: Template.fromStack(obsStack).toJSON() };
  }
  const text = (t: any) => JSON.stringify(t);
  const resourcesOfType = (t: any, type: string) => Object.entries<any>(t.Resources).filter(([, r]) => r.Type === type);

  /** The template's intrinsics as CloudFormation returns them (partition aws; a named topic/queue's ARN from its name). */
  function resolveIn(t: any, v: any): any {
    if (Array.isArray(v)) return v.map((x) => resolveIn(t, x));
    if (!v || typeof v !== 'object') return v;
    if (v.Ref === 'AWS::Partition') return 'aws';
    if (v.Ref && t.Resources[v.Ref]?.Type === 'AWS::SNS::Topic') return `arn:aws:sns:eu-west-1:111111111111:${t.Resources[v.Ref].Properties.TopicName}`;
    if (v['Fn::GetAtt']?.[1] === 'Arn' && t.Resources[v['Fn::GetAtt'][0]]?.Type === 'AWS::SQS::Queue') {
      return `arn:aws:sqs:eu-west-1:111111111111:${t.Resources[v['Fn::GetAtt'][0]].Properties.QueueName}`;
    }
    if (v['Fn::Join']) return resolveIn(t, v['Fn::Join'][1]).join(v['Fn::Join'][0]);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveIn(t, x)]));
  }

  test('no Fn::ImportValue either way; the resources observability names get deterministic names; observability deploys after the pipeline', () => {
    const { pipeline, observability, obsStack, pipelineStack } = watched('two stacks');
    expect(text(observability)).not.toContain('Fn::ImportValue');
    expect(text(pipeline)).not.toContain('Fn::ImportValue');
    expect(obsStack.dependencies).toContain(pipelineStack);
    const name = (type: string, prop: string) => resourcesOfType(pipeline, type).map(([, r]) => r.Properties?.[prop]);
    expect(name('AWS::SQS::Queue', 'QueueName').sort()).toEqual([expect.stringMatching(/^Pipeline-Stack-Dlq-[0-9a-f]{8}$/), expect.stringMatching(/^Pipeline-Stack-Work-[0-9a-f]{8}$/)]);
    expect(name('AWS::CloudWatch::Alarm', 'AlarmName')).toEqual([expect.stringMatching(/^Pipeline-Stack-Own-[0-9a-f]{8}$/)]);
    // Without a lake, logs are not landed: nothing needs the log group's name, so it keeps a generated one.
    expect(name('AWS::Logs::LogGroup', 'LogGroupName')).toEqual([undefined]);
    // Observability uses exactly those names: metric dimensions and the composite (log landing: see test/platform-layout.test.ts).
    const [queueName] = name('AWS::SQS::Queue', 'QueueName').filter((n: string) => n.includes('-Work-'));
    expect(text(observability)).toContain(`\\"QueueName\\",\\"${queueName}\\"`);
    // The pipeline's own alarm: on the status widget by its ARN; not in the composite (CloudWatch would refuse to delete it while a composite names it).
    const ownArn = `arn:aws:cloudwatch:eu-west-1:111111111111:alarm:${name('AWS::CloudWatch::Alarm', 'AlarmName')[0]}`;
    const dashboard = resolveIn(observability, resourcesOfType(observability, 'AWS::CloudWatch::Dashboard')[0][1].Properties.DashboardBody);
    expect(JSON.parse(dashboard).widgets.filter((w: any) => w.type === 'alarm').flatMap((w: any) => w.properties.alarms)).toContain(ownArn);
    expect(text(resourcesOfType(observability, 'AWS::CloudWatch::CompositeAlarm'))).not.toContain(ownArn);
  });

  test('the failure rule lives in the pipeline\'s stack; IAM\'s evaluation of the topic and queue policies lets that rule, and no other, publish and dead-letter', async () => {
    const { pipeline, observability } = watched('two stacks');
    const rules = resourcesOfType(pipeline, 'AWS::Events::Rule');
    expect(rules.length).toBe(1);
    expect(resourcesOfType(observability, 'AWS::Events::Rule')).toEqual([]);
    const rule = rules[0][1].Properties;
    expect(rule.Name).toMatch(/^Pipeline-Stack-P-Watched-By-Obs-Failure-Rule0-[0-9a-f]{8}$/);
    const ruleArn = `arn:aws:events:eu-west-1:111111111111:rule/${rule.Name}`;
    const topic = resourcesOfType(observability, 'AWS::SNS::Topic')[0][1].Properties.TopicName;
    const dlq = resourcesOfType(observability, 'AWS::SQS::Queue')[0][1].Properties.QueueName;
    const targets = resolveIn(pipeline, rule.Targets);
    expect(targets[0].Arn).toBe(`arn:aws:sns:eu-west-1:111111111111:${topic}`);
    expect(targets[0].DeadLetterConfig.Arn).toBe(`arn:aws:sqs:eu-west-1:111111111111:${dlq}`);

    const policyOf = (type: string) => resolveIn(observability, resourcesOfType(observability, type)[0][1].Properties.PolicyDocument);
    const decide = async (policy: any, action: string, resource: string, sourceArn: string) => {
      const response = await runSimulation({
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: policy,
        request: {
          principal: 'events.amazonaws.com',
          action,
          resource: { resource, accountId: '111111111111' },
          contextVariables: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': '111111111111', 'aws:SecureTransport': 'true' },
        },
      }, {});
      if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
      return response.overallResult;
    };
    const other = 'arn:aws:events:eu-west-1:111111111111:rule/someone-elses-rule';
    const topicArn = `arn:aws:sns:eu-west-1:111111111111:${topic}`;
    const queueArn = `arn:aws:sqs:eu-west-1:111111111111:${dlq}`;
    expect(await decide(policyOf('AWS::SNS::TopicPolicy'), 'sns:Publish', topicArn, ruleArn)).toBe('Allowed');
    expect(await decide(policyOf('AWS::SNS::TopicPolicy'), 'sns:Publish', topicArn, other)).not.toBe('Allowed');
    expect(await decide(policyOf('AWS::SQS::QueuePolicy'), 'sqs:SendMessage', queueArn, ruleArn)).toBe('Allowed');
    expect(await decide(policyOf('AWS::SQS::QueuePolicy'), 'sqs:SendMessage', queueArn, other)).not.toBe('Allowed');
  });

  test('in one stack nothing is renamed: the template keeps generated names, as before', () => {
    const { pipeline } = watched('one stack');
    for (const [type, prop] of [['AWS::SQS::Queue', 'QueueName'], ['AWS::CloudWatch::Alarm', 'AlarmName'], ['AWS::Logs::LogGroup', 'LogGroupName'],
      ['AWS::Events::Rule', 'Name'], ['AWS::SNS::Topic', 'TopicName']]) {
      expect([type, resourcesOfType(pipeline, type).filter(([, r]) => r.Properties?.[prop] !== undefined).length]).toEqual([type, 0]);
    }
  });

  test('bound: a reference whose value does not follow from a name (here an SNS topic\'s TopicName attribute) stays an import', () => {
    const { observability } = watched('two stacks', (s) => new cloudwatch.Metric({
      namespace: 'AWS/SNS', metricName: 'NumberOfNotificationsFailed', dimensionsMap: { TopicName: new sns.Topic(s, 'T').topicName },
    }));
    expect(text(observability).match(/Fn::ImportValue/g)?.length).toBe(1);
  });
});
