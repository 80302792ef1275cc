import { Aspects, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { platformLayoutApp, PlatformStage } from '../integ/integ.platform-layout';

/**
 * The platform layout of integ/integ.platform-layout.ts: 2 stages × 8 stacks in one account and
 * region, an imported key and raw bucket, two streaming datasets on one lake.
 */
jest.setTimeout(600_000);

const { app, stages } = platformLayoutApp();
// Aspects of an App do not reach the stacks of its Stages (measured: 0 findings that way), so
// each stage gets both packs.
for (const stage of stages) {
  Aspects.of(stage).add(new AwsSolutionsChecks({ verbose: true }));
  Aspects.of(stage).add(new NIST80053R5Checks({ verbose: true }));
}
// Synthesizing the app runs the aspects, resolves cross-stack references (a cycle throws here)
// and runs every construct's validations.
const assembly = app.synth();

function stacksOf(stage: PlatformStage): Stack[] {
  return stage.node.children.filter((c): c is Stack => c instanceof Stack);
}
const allStacks = stages.flatMap(stacksOf);
const templates = new Map(allStacks.map((s) => [s, Template.fromStack(s)]));

function resourcesOf(type: string): { stack: Stack; id: string; props: any }[] {
  return allStacks.flatMap((stack) => Object.entries(templates.get(stack)!.findResources(type))
    .map(([id, r]) => ({ stack, id, props: (r as any).Properties ?? {} })));
}

describe('the platform layout synthesizes', () => {
  test('two stages of eight stacks each, in one account and region', () => {
    expect(stages.map((s) => stacksOf(s).length)).toEqual([8, 8]);
    expect(new Set(allStacks.map((s) => `${s.account}/${s.region}`))).toEqual(new Set(['111111111111/eu-west-1']));
    expect(assembly.stacksRecursively.length).toBe(16);
  });

  test('stack names are unique in the account and region', () => {
    const names = allStacks.map((s) => s.stackName);
    expect(new Set(names).size).toBe(names.length);
  });

  test('no physical name is used twice in the account and region', () => {
    // Every explicitly named resource, by type and name, across both stages.
    const NAME_PROPS: Record<string, string> = {
      'AWS::SNS::Topic': 'TopicName',
      'AWS::Glue::Job': 'Name',
      'AWS::Glue::SecurityConfiguration': 'Name',
      'AWS::Glue::Database': 'DatabaseInput.Name',
      'AWS::Athena::WorkGroup': 'Name',
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::Kinesis::Stream': 'Name',
      'AWS::KinesisFirehose::DeliveryStream': 'DeliveryStreamName',
      'AWS::StepFunctions::StateMachine': 'StateMachineName',
      'AWS::CloudWatch::Dashboard': 'DashboardName',
      'AWS::CloudWatch::Alarm': 'AlarmName',
      'AWS::Scheduler::ScheduleGroup': 'Name',
      'AWS::Scheduler::Schedule': 'Name',
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::SQS::Queue': 'QueueName',
      'AWS::DMS::ReplicationConfig': 'ReplicationConfigIdentifier',
      'AWS::CloudTrail::Trail': 'TrailName',
      'AWS::IAM::Role': 'RoleName',
    };
    const seen = new Map<string, string>();
    const clashes: string[] = [];
    let named = 0;
    for (const [type, path] of Object.entries(NAME_PROPS)) {
      for (const r of resourcesOf(type)) {
        const value = path.split('.').reduce((o: any, k) => o?.[k], r.props);
        if (value === undefined) continue;
        const key = `${type} ${JSON.stringify(r.stack.resolve(value))}`;
        named += 1;
        const where = `${r.stack.stackName}/${r.id}`;
        if (seen.has(key)) clashes.push(`${key}: ${seen.get(key)} and ${where}`);
        seen.set(key, where);
      }
    }
    expect(named).toBeGreaterThan(10);
    expect(clashes).toEqual([]);
  });
});

describe('alarms', () => {
  test('every CloudWatch alarm, composite or not, has an alarm action', () => {
    const alarms = [...resourcesOf('AWS::CloudWatch::Alarm'), ...resourcesOf('AWS::CloudWatch::CompositeAlarm')];
    const silent = alarms.filter((a) => !(a.props.AlarmActions?.length > 0)).map((a) => `${a.stack.stackName}/${a.id}`);
    console.log(`alarms in the platform app: ${alarms.length}; topic names: ${stages.map((s) => s.observabilityStack.resolve((s.observability.topic.node.defaultChild as any).topicName)).join(', ')}`);
    expect(alarms.length).toBeGreaterThan(40);
    expect(silent).toEqual([]);
  });

  test('an alarm of a pipeline stack notifies the topic of its own stage by ARN, with no reference to the observability stack', () => {
    for (const stage of stages) {
      const topic = stage.observabilityStack.resolve((stage.observability.topic.node.defaultChild as any).topicName);
      expect(typeof topic).toBe('string');
      for (const stack of stacksOf(stage).filter((s) => s !== stage.observabilityStack)) {
        for (const [id, alarm] of Object.entries(templates.get(stack)!.findResources('AWS::CloudWatch::Alarm'))) {
          const actions = JSON.stringify((alarm as any).Properties.AlarmActions);
          expect([id, actions]).toEqual([id, expect.stringContaining(`:${topic}`)]);
          expect(actions).not.toContain('Fn::ImportValue');
        }
        // ...and nothing in a pipeline stack imports from observability (which would be a cycle).
        expect(JSON.stringify(templates.get(stack)!.toJSON())).not.toMatch(new RegExp(`ImportValue[^}]*${stage.observabilityStack.stackName}`));
      }
    }
  });

  test('the two stages\' topics have different names', () => {
    const names = stages.map((s) => s.observabilityStack.resolve((s.observability.topic.node.defaultChild as any).topicName));
    expect(new Set(names).size).toBe(2);
  });

  test('a 2-day (daily API pull) and a 7-day (weekly CDC table) freshness are watched over exactly their interval', () => {
    const freshness = resourcesOf('AWS::CloudWatch::Alarm').filter((a) => /FreshnessAlarm/.test(a.id) && a.stack.stackName.startsWith('Dev'));
    const spans = freshness.map((a) => {
      const period = a.props.Period ?? a.props.Metrics?.find((m: any) => m.MetricStat)?.MetricStat.Period;
      return { span: period * a.props.EvaluationPeriods, all: a.props.DatapointsToAlarm === a.props.EvaluationPeriods, period };
    });
    expect(spans).toEqual(expect.arrayContaining([
      { span: 2 * 86400, all: true, period: 3600 },
      { span: 7 * 86400, all: true, period: 3600 },
    ]));
  });
});

describe('cross-stack references', () => {
  test('counted, per importing stack', () => {
    const imports: Record<string, number> = {};
    for (const stack of stacksOf(stages[0])) {
      const text = JSON.stringify(templates.get(stack)!.toJSON());
      imports[stack.node.id] = (text.match(/"Fn::ImportValue"/g) ?? []).length;
    }
    // Printed for docs/multi-stack.md; the observability stack reads the pipelines' metrics and
    // alarms, and no pipeline stack reads observability.
    console.log(`Fn::ImportValue per stack (Dev): ${JSON.stringify(imports)}`);
    expect(imports.Network).toBe(0);
    expect(imports.Lake).toBe(0);
  });
});

/** Every message of every stack, from the one synthesis above. */
const messages = assembly.nestedAssemblies.flatMap((n) => n.nestedAssembly.stacks)
  .flatMap((artifact) => artifact.messages.map((m) => ({ stack: artifact.stackName, path: m.id, level: m.level, text: String(m.entry.data) })));

describe('cdk-nag', () => {
  const findings = (pack: RegExp) => messages.filter((m) => (m.level === 'error' || m.level === 'warning') && pack.test(m.text))
    .map((m) => `${m.path}: ${m.text.split('\n')[0]}`);

  test('both packs ran on every stack', () => {
    expect(assembly.nestedAssemblies.flatMap((n) => n.nestedAssembly.stacks).length).toBe(16);
  });

  test('AwsSolutions: nothing unexplained on any stack', () => {
    expect(findings(/^AwsSolutions-/)).toEqual([]);
  });

  test('NIST 800-53 R5: nothing unexplained on library resources; only the test\'s own network remains', () => {
    const all = findings(/^NIST\.800\.53\.R5-/);
    // The Network stack stands for the network a platform team already runs (public subnets, flow
    // logs, its default security group): its findings are its owner's. Every other stack holds
    // only library resources and the app's wiring.
    const outsideNetwork = all.filter((f) => !/^\/[A-Za-z]+\/Network\//.test(f));
    expect(outsideNetwork).toEqual([]);
    expect(all.length).toBeGreaterThan(0); // the pack ran: the network's own findings are there
  });
});

describe('bring your own key and bucket', () => {
  test('each stage is told, at synth, the statements the owners of its imported key and bucket must add', () => {
    const owner = messages.filter((m) => m.level === 'warning' && /must add this statement/.test(m.text));
    const sids = (stage: string) => owner.filter((m) => m.stack.startsWith(stage))
      .map((m) => `${m.stack.replace(stage, '')}: ${/"Sid":"([^"]+)"/.exec(m.text)?.[1] ?? 'CloudWatch Logs on the lake key'}`).sort();
    console.log(owner.filter((m) => m.stack.startsWith('Dev')).map((m) => `${m.path}: ${m.text}`).join('\n'));
    // The streaming merge is a MergeJob since issue 15: its statement for Glue's logs is the one every
    // merge job asks for (CloudWatchLogsEncryptsGlueJobLogs), here on the lake key it uses as job key.
    const expected = [
      '-Clicks: CloudWatchLogsEncryptsGlueJobLogs',
      '-Lake: LakeDeniesInsecureTransport',
      '-Observability: CloudTrailChecksLakeBucketAcl',
      '-Observability: CloudTrailEncryptsLakeDataEventLogs',
      '-Observability: CloudTrailWritesLakeDataEvents',
      '-OrderEvents: CloudWatchLogsEncryptsGlueJobLogs',
    ];
    expect(sids('Dev')).toEqual(expected);
    expect(sids('Staging')).toEqual(expected);
  });
});
