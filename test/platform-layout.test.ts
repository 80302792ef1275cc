import { execFileSync } from 'child_process';
import { join } from 'path';
import { App, Aspects, Stack } from 'aws-cdk-lib';
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
      'AWS::Events::Rule': 'Name',
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

const templateOf = (stack: Stack): any => templates.get(stack)!.toJSON();
const pipelineStacksOf = (stage: PlatformStage) => stacksOf(stage).filter((s) => !['Network', 'Lake', 'Observability'].includes(s.node.id));

/** Every `Fn::ImportValue` of a template, with the stack that exports it (`<stack name>:<export>`). */
function importsOf(template: any): string[] {
  const found: string[] = [];
  const walk = (v: any) => {
    if (Array.isArray(v)) {v.forEach(walk);} else if (v && typeof v === 'object') {
      if ('Fn::ImportValue' in v) found.push(String(v['Fn::ImportValue']));
      Object.values(v).forEach(walk);
    }
  };
  walk(template);
  return found;
}

/**
 * What CloudFormation makes of an intrinsic in a template, the way its resource reference documents
 * the return values: pseudo parameters from the stage's environment, `Ref`/`Fn::GetAtt` of a
 * resource of the same template from that resource's physical name; a resource without a name
 * gets a stand-in `GENERATED(<stack>/<logical id>)`, which nothing in another stack can know.
 */
function render(value: any, template: any, stackName: string): any {
  const resources = template.Resources ?? {};
  const nameOf = (id: string) => {
    const r = resources[id];
    if (!r) throw new Error(`${stackName}: no resource ${id}`);
    const p = r.Properties ?? {};
    const name = ({
      'AWS::Lambda::Function': p.FunctionName,
      'AWS::SQS::Queue': p.QueueName,
      'AWS::KinesisFirehose::DeliveryStream': p.DeliveryStreamName,
      'AWS::StepFunctions::StateMachine': p.StateMachineName,
      'AWS::Glue::Job': p.Name,
      'AWS::Logs::LogGroup': p.LogGroupName,
      'AWS::CloudWatch::Alarm': p.AlarmName,
      'AWS::Events::Rule': p.Name,
      'AWS::Kinesis::Stream': p.Name,
      'AWS::DynamoDB::Table': p.TableName,
      'AWS::SNS::Topic': p.TopicName,
    } as Record<string, any>)[r.Type];
    return typeof name === 'string' ? name : `GENERATED(${stackName}/${id})`;
  };
  const env = { 'AWS::Partition': 'aws', 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '111111111111', 'AWS::URLSuffix': 'amazonaws.com' } as Record<string, string>;
  const attr = (id: string, a: string): string => {
    const type = resources[id]?.Type;
    const n = nameOf(id);
    if (type === 'AWS::StepFunctions::StateMachine' && (a === 'Ref' || a === 'Arn')) return `arn:aws:states:eu-west-1:111111111111:stateMachine:${n}`;
    if (type === 'AWS::CloudWatch::Alarm' && a === 'Arn') return `arn:aws:cloudwatch:eu-west-1:111111111111:alarm:${n}`;
    if (type === 'AWS::SQS::Queue' && a === 'Arn') return `arn:aws:sqs:eu-west-1:111111111111:${n}`;
    if (type === 'AWS::SNS::Topic' && a === 'Ref') return `arn:aws:sns:eu-west-1:111111111111:${n}`;
    if (type === 'AWS::DMS::ReplicationConfig' && a === 'ReplicationConfigArn') return `arn:aws:dms:eu-west-1:111111111111:replication-config:GENERATED(${stackName}/${id})`;
    if (a === 'Ref' || a === 'QueueName' || a === 'Name') return n;
    return `GENERATED(${stackName}/${id}.${a})`;
  };
  const walk = (v: any): any => {
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    if ('Ref' in v) return env[v.Ref] ?? attr(v.Ref, 'Ref');
    if ('Fn::GetAtt' in v) return attr(v['Fn::GetAtt'][0], v['Fn::GetAtt'][1]);
    if ('Fn::Join' in v) return walk(v['Fn::Join'][1]).join(v['Fn::Join'][0]);
    if ('Fn::ImportValue' in v) return `IMPORTED(${v['Fn::ImportValue']})`;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value);
}

describe('observability imports nothing from the pipeline stacks', () => {
  test('observability imports only the lake\'s bucket ARNs (CloudTrail data events); no pipeline stack imports from observability', () => {
    for (const stage of stages) {
      const obs = stage.observabilityStack;
      const fromStacks = importsOf(templateOf(obs)).map((i) => i.split(':')[0]);
      expect(new Set(fromStacks)).toEqual(new Set([stage.lakeStack.stackName]));
      expect(fromStacks.length).toBe(2);
      for (const stack of stacksOf(stage).filter((s) => s !== obs)) {
        expect(importsOf(templateOf(stack)).filter((i) => i.startsWith(`${obs.stackName}:`))).toEqual([]);
      }
      // Observability still deploys after what it watches: an explicit dependency (which creates no export).
      for (const p of pipelineStacksOf(stage)) expect(obs.dependencies).toContain(p);
    }
  });

  test('the status widget names every alarm of its stage, each of which exists; the composite names every alarm of the observability stack, and every pipeline', () => {
    for (const stage of stages) {
      const obs = stage.observabilityStack;
      const arnsIn = (stacks: Stack[]) => new Set(stacks.flatMap((stack) => {
        const t = templateOf(stack);
        return Object.entries<any>(t.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
          .map(([id]) => render({ 'Fn::GetAtt': [id, 'Arn'] }, t, stack.stackName));
      }));
      const all = arnsIn(stacksOf(stage));
      const dashboard = Object.values<any>(templates.get(obs)!.findResources('AWS::CloudWatch::Dashboard'))[0];
      const body = JSON.parse(render(dashboard.Properties.DashboardBody, templateOf(obs), obs.stackName));
      const shown: string[] = body.widgets.filter((w: any) => w.type === 'alarm').flatMap((w: any) => w.properties.alarms);
      // An alarm of a pipeline stack is named by a plain ARN built from its deterministic name.
      expect(shown.filter((a) => !a.includes('GENERATED(')).length).toBeGreaterThanOrEqual(8);
      expect(new Set(shown)).toEqual(all);
      expect(shown.length).toBe(all.size);

      const composite = Object.values<any>(templates.get(obs)!.findResources('AWS::CloudWatch::CompositeAlarm'))[0];
      const rule: string = render(composite.Properties.AlarmRule, templateOf(obs), obs.stackName);
      const named = [...rule.matchAll(/ALARM\("([^"]+)"\)/g)].map((m) => m[1]);
      expect(new Set(named)).toEqual(arnsIn([obs]));
      // Every watched pipeline has alarms in it (its errors alarm at least).
      for (const p of stage.pipelines) {
        expect([p.pipelineName, stage.observability.watchedPipeline(p.pipelineName).errorsAlarm !== undefined]).toEqual([p.pipelineName, true]);
      }
      expect(named.length).toBeGreaterThanOrEqual(stage.pipelines.length + 1);
    }
  });

  test('the dashboard\'s metric dimensions are the names of the resources in the pipeline stacks of its stage', () => {
    const KEYS: Record<string, string> = {
      FunctionName: 'AWS::Lambda::Function',
      QueueName: 'AWS::SQS::Queue',
      DeliveryStreamName: 'AWS::KinesisFirehose::DeliveryStream',
      StateMachineArn: 'AWS::StepFunctions::StateMachine',
      JobName: 'AWS::Glue::Job',
    };
    const namesIn = (stage: PlatformStage, type: string) => new Set(pipelineStacksOf(stage).flatMap((stack) => {
      const t = templateOf(stack);
      return Object.entries<any>(t.Resources).filter(([, r]) => r.Type === type).map(([id]) => render({ Ref: id }, t, stack.stackName));
    }));
    for (const stage of stages) {
      const obs = stage.observabilityStack;
      const dashboard = Object.values<any>(templates.get(obs)!.findResources('AWS::CloudWatch::Dashboard'))[0];
      const body = JSON.parse(render(dashboard.Properties.DashboardBody, templateOf(obs), obs.stackName));
      const dims: [string, string][] = body.widgets.flatMap((w: any) => (w.properties?.metrics ?? []) as any[])
        .flatMap((m: any[]) => {
          const plain = m.filter((x) => typeof x === 'string');
          return plain.slice(2).flatMap((x, i, a) => (i % 2 === 0 ? [[x, a[i + 1]] as [string, string]] : []));
        });
      const watched = dims.filter(([k]) => k in KEYS);
      expect(watched.length).toBeGreaterThanOrEqual(20);
      const wrong = watched.filter(([k, v]) => !namesIn(stage, KEYS[k]).has(v));
      expect(wrong).toEqual([]);
      // What is charted, per kind of resource: the two dedup functions and delivery streams, the
      // API pull's workflow, each pipeline's dead-letter queues (the streaming merges' schedule DLQs included). No Glue job:
      // every merge job reports under CdkLakehouse/Merge with a Pipeline dimension, not Glue's JobName.
      const charted = (k: string) => new Set(watched.filter(([key]) => key === k).map(([, v]) => v)).size;
      expect(Object.keys(KEYS).map((k) => [k, charted(k)])).toEqual([
        ['FunctionName', 2], ['QueueName', 7], ['DeliveryStreamName', 2], ['StateMachineArn', 1], ['JobName', 0],
      ]);
      expect(JSON.stringify(body)).not.toContain('IMPORTED(');
    }
  });
});

/**
 * EventBridge's matching, as moto 5.2 implements it (`moto.events.models.EventPattern`, the
 * project's .venv): one boolean per [pattern, event] pair.
 */
function eventBridgeMatches(pairs: [any, any][]): boolean[] {
  const script = [
    'import json, sys',
    'from moto.events.models import EventPattern',
    'pairs = json.load(sys.stdin)',
    'print(json.dumps([EventPattern.load(json.dumps(p)).matches_event(e) for p, e in pairs]))',
  ].join('\n');
  const out = execFileSync(join(__dirname, '..', '.venv', 'bin', 'python'), ['-c', script], { input: JSON.stringify(pairs) });
  return JSON.parse(out.toString());
}

/** The events the services send (shapes from the EventBridge events reference for Glue, Step Functions and DMS). */
const EVENT_BASE = { version: '0', id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718', account: '111111111111', time: '2026-12-01T10:00:00Z', region: 'eu-west-1' };
const glueEvent = (jobName: string, state: string) => ({
  ...EVENT_BASE,
  'source': 'aws.glue',
  'detail-type': 'Glue Job State Change',
  'resources': [],
  'detail': { jobName, severity: state === 'SUCCEEDED' ? 'INFO' : 'ERROR', state, jobRunId: 'jr_0123', message: 'Command failed with exit code 1' },
});
const statesEvent = (stateMachineArn: string, status: string) => {
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:run-1`;
  return {
    ...EVENT_BASE,
    'source': 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    'resources': [executionArn],
    'detail': { executionArn, stateMachineArn, name: 'run-1', status, startDate: 1764583200000, stopDate: 1764583260000, input: '{}', output: null },
  };
};
const dmsEvent = (configArn: string, eventType: string) => ({
  ...EVENT_BASE,
  'source': 'aws.dms',
  'detail-type': 'DMS Replication State Change',
  'resources': [configArn],
  'detail': { eventType, detailMessage: 'Replication failed', type: 'REPLICATION_STATE_CHANGE' },
});

describe('failure events', () => {
  test('each watched Glue job, workflow and DMS replication of a stage has one rule, in its own stack, that matches its failure event; nothing else matches', () => {
    /** [what, event, the stack whose rule must match it (none: no rule may match)]. */
    type Case = [string, any, Stack | undefined];
    const pairs: [any, any][] = [];
    const index: { stage: string; name: string; ruleStack: Stack; home?: Stack }[] = [];
    for (const stage of stages) {
      const other = stages.find((s) => s !== stage)!;
      const watched = (st: PlatformStage, type: string) => pipelineStacksOf(st).flatMap((stack) => {
        const t = templateOf(stack);
        return Object.entries<any>(t.Resources).filter(([, r]) => r.Type === type)
          .map(([id]) => ({ stack, value: render(type === 'AWS::DMS::ReplicationConfig' ? { 'Fn::GetAtt': [id, 'ReplicationConfigArn'] } : { Ref: id }, t, stack.stackName) }));
      });
      const rules = pipelineStacksOf(stage).flatMap((stack) => Object.values<any>(templateOf(stack).Resources)
        .filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern)
        .map((r) => ({ stack, pattern: render(r.Properties.EventPattern, templateOf(stack), stack.stackName) })));
      expect(rules.length).toBe(6);
      const workflows = (st: PlatformStage) => watched(st, 'AWS::StepFunctions::StateMachine').filter((m) => m.stack.node.id === 'AdsApi');
      const cases: Case[] = [
        ...watched(stage, 'AWS::Glue::Job').flatMap((j): Case[] => [
          [`${j.value} FAILED`, glueEvent(j.value, 'FAILED'), j.stack],
          [`${j.value} TIMEOUT`, glueEvent(j.value, 'TIMEOUT'), j.stack],
          [`${j.value} SUCCEEDED`, glueEvent(j.value, 'SUCCEEDED'), undefined],
        ]),
        ...watched(other, 'AWS::Glue::Job').map((j): Case => [`other stage's ${j.value} FAILED`, glueEvent(j.value, 'FAILED'), undefined]),
        ...workflows(stage).flatMap((m): Case[] => [
          [`${m.value} FAILED`, statesEvent(m.value, 'FAILED'), m.stack],
          [`${m.value} SUCCEEDED`, statesEvent(m.value, 'SUCCEEDED'), undefined],
        ]),
        ...workflows(other).map((m): Case => [`other stage's ${m.value} FAILED`, statesEvent(m.value, 'FAILED'), undefined]),
        ...watched(stage, 'AWS::DMS::ReplicationConfig').flatMap((c): Case[] => [
          [`${c.value} REPLICATION_FAILED`, dmsEvent(c.value, 'REPLICATION_FAILED'), c.stack],
          [`${c.value} REPLICATION_STARTED`, dmsEvent(c.value, 'REPLICATION_STARTED'), undefined],
        ]),
      ];
      // 4 jobs × 3 events + the other stage's 4 jobs; the workflow × 2 + the other stage's; the replication × 2.
      expect(cases.length).toBe(21);
      for (const [name, event, home] of cases) {
        for (const rule of rules) {
          pairs.push([rule.pattern, event]);
          index.push({ stage: stage.stageName, name, ruleStack: rule.stack, home });
        }
      }
    }
    const got = eventBridgeMatches(pairs);
    const matchedBy = new Map<string, Stack[]>();
    const homeOf = new Map<string, Stack | undefined>();
    got.forEach((m, i) => {
      const key = `${index[i].stage} ${index[i].name}`;
      homeOf.set(key, index[i].home);
      matchedBy.set(key, [...(matchedBy.get(key) ?? []), ...(m ? [index[i].ruleStack] : [])]);
    });
    const wrong = [...matchedBy.entries()].filter(([key, by]) => {
      const home = homeOf.get(key);
      return home ? !(by.length === 1 && by[0] === home) : by.length > 0;
    }).map(([key, by]) => `${key}: matched by ${by.map((s) => s.stackName).join(', ') || 'no rule'}`);
    expect(wrong).toEqual([]);
    expect([...homeOf.values()].filter((h) => h !== undefined).length).toBe(2 * 10);
  });
});

/**
 * CloudFormation's rules for exports, as its user guide states them ("Considerations when
 * referencing exported outputs"): a stack cannot delete or change an export another deployed stack
 * imports, nor be deleted while one of its exports is imported; a template cannot import an export
 * that no deployed stack has. Each deploy of `template` (undefined: delete the stack) returns the
 * errors CloudFormation would give, and applies the change when there are none.
 */
function deployInto(deployed: Map<string, any>, stackName: string, template: any | undefined): string[] {
  const exportsOf = (t: any) => new Map<string, string>(Object.values<any>(t?.Outputs ?? {}).filter((o) => o.Export)
    .map((o) => [String(o.Export.Name), JSON.stringify(o.Value)]));
  const errors: string[] = [];
  const before = exportsOf(deployed.get(stackName));
  const after = exportsOf(template);
  for (const [name, value] of before) {
    if (after.get(name) === value) continue;
    for (const [other, t] of deployed) {
      if (other !== stackName && importsOf(t).includes(name)) errors.push(`Export ${name} cannot be ${after.has(name) ? 'updated' : 'deleted'} as it is in use by ${other}`);
    }
  }
  // CloudWatch: an alarm a composite of another stack names cannot be deleted ("Cannot delete ... as
  // there are composite alarm(s) depending on it"), and a composite cannot name an alarm that does not
  // exist ("Could not save the composite alarm as alarms ... in the alarm rule do not exist").
  const alarmsOf = (name: string, t: any) => new Set(Object.entries<any>(t?.Resources ?? {}).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
    .map(([id]) => render({ 'Fn::GetAtt': [id, 'Arn'] }, t, name)));
  const namedByComposites = (name: string, t: any) => Object.values<any>(t?.Resources ?? {}).filter((r) => r.Type === 'AWS::CloudWatch::CompositeAlarm')
    .flatMap((r) => [...String(render(r.Properties.AlarmRule, t, name)).matchAll(/ALARM\("([^"]+)"\)/g)].map((m) => m[1]));
  const kept = alarmsOf(stackName, template);
  for (const alarm of alarmsOf(stackName, deployed.get(stackName))) {
    if (kept.has(alarm)) continue;
    for (const [other, t] of deployed) {
      if (other !== stackName && namedByComposites(other, t).includes(alarm)) errors.push(`Cannot delete ${alarm} as there are composite alarm(s) depending on it (${other})`);
    }
  }
  const existing = new Set([...[...deployed].filter(([n]) => n !== stackName).flatMap(([n, t]) => [...alarmsOf(n, t)]), ...kept]);
  for (const alarm of namedByComposites(stackName, template)) {
    if (!existing.has(alarm)) errors.push(`${stackName}: Could not save the composite alarm as alarms [${alarm}] in the alarm rule do not exist`);
  }
  const available = new Set([...deployed].filter(([n]) => n !== stackName).flatMap(([, t]) => [...exportsOf(t).keys()]));
  for (const name of importsOf(template ?? {})) if (!available.has(name)) errors.push(`${stackName}: No export named ${name} found`);
  if (errors.length === 0) {
    if (template) deployed.set(stackName, template);
    else deployed.delete(stackName);
  }
  return errors;
}

describe('log landing', () => {
  test('observability\'s subscription filters name the pipelines\' log groups by their physical names', () => {
    for (const stage of stages) {
      const obs = stage.observabilityStack;
      const subscribed = Object.values<any>(templates.get(obs)!.findResources('AWS::Logs::SubscriptionFilter')).map((r) => r.Properties.LogGroupName);
      const groups = pipelineStacksOf(stage).flatMap((stack) => Object.values<any>(templates.get(stack)!.findResources('AWS::Logs::LogGroup'))
        .map((r) => r.Properties.LogGroupName));
      expect(subscribed.every((n) => typeof n === 'string')).toBe(true);
      expect(subscribed.length).toBe(10);
      expect(subscribed.filter((n) => !groups.includes(n))).toEqual([]);
    }
  });
});

describe('replacing or removing a pipeline: one deploy of its stack, then one of observability', () => {
  const deployedV1 = () => new Map(allStacks.map((s) => [s.stackName, templateOf(s)]));
  const variant = (clicks: 'replaced' | 'removed') => {
    const v = platformLayoutApp(new App(), clicks);
    const asm = v.app.synth();
    return { stages: v.stages, template: (name: string) => asm.stacksRecursively.find((s) => s.stackName === name)!.template };
  };
  const replaced = variant('replaced');
  const removed = variant('removed');

  test('the export rules catch a deadlock (the check can fail): the lake stack cannot go while observability imports its bucket ARNs', () => {
    expect(deployInto(deployedV1(), 'Dev-Lake', undefined).join('\n')).toMatch(/Export Dev-Lake:\S+ cannot be deleted as it is in use by Dev-Observability/);
  });

  test('CloudWatch\'s composite rules are checked too (the check can fail): a composite naming a Clicks alarm blocks its deletion', () => {
    const deployed = deployedV1();
    const clicks = templateOf(stages[0].node.findChild('Clicks') as Stack);
    const [alarmId, alarm] = Object.entries<any>(clicks.Resources).find(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')!;
    const arn = `arn:aws:cloudwatch:eu-west-1:111111111111:alarm:${alarm.Properties.AlarmName}`;
    expect(typeof alarm.Properties.AlarmName).toBe('string');
    const obs = JSON.parse(JSON.stringify(deployed.get('Dev-Observability')));
    obs.Resources.Naming = { Type: 'AWS::CloudWatch::CompositeAlarm', Properties: { AlarmRule: `ALARM("${arn}")` } };
    deployed.set('Dev-Observability', obs);
    expect(deployInto(deployed, 'Dev-Clicks', undefined)).toEqual([`Cannot delete ${arn} as there are composite alarm(s) depending on it (Dev-Observability)`]);
    expect(alarmId).toBeDefined();
  });

  test('replaced: Dev-Clicks with a new pipeline, then Dev-Observability, both succeed; observability now watches the new one', () => {
    const deployed = deployedV1();
    expect(deployInto(deployed, 'Dev-Clicks', replaced.template('Dev-Clicks'))).toEqual([]);
    expect(deployInto(deployed, 'Dev-Observability', replaced.template('Dev-Observability'))).toEqual([]);
    const obs = JSON.stringify(deployed.get('Dev-Observability'));
    expect(obs).toContain('Dev-Clicks-Click-Stream-');
    expect(obs).not.toMatch(/Dev-Clicks-Clicks-/);
    // The new pipeline's named resources take names the old ones do not have, so CloudFormation can
    // create them before it deletes the old ones.
    const names = (t: any) => new Set(Object.values<any>(t.Resources).flatMap((r) => ['FunctionName', 'QueueName', 'DeliveryStreamName', 'AlarmName', 'Name', 'LogGroupName']
      .map((k) => r.Properties?.[k]).filter((v) => typeof v === 'string').map((v) => `${r.Type} ${v}`)));
    const before = names(templateOf(stages[0].node.findChild('Clicks') as Stack));
    const after = names(replaced.template('Dev-Clicks'));
    expect(before.size).toBeGreaterThan(5);
    expect([...after].filter((n) => before.has(n))).toEqual([]);
  });

  test('removed: deleting Dev-Clicks, then Dev-Observability, both succeed, and the other order too', () => {
    const deployed = deployedV1();
    expect(deployInto(deployed, 'Dev-Clicks', undefined)).toEqual([]);
    expect(deployInto(deployed, 'Dev-Observability', removed.template('Dev-Observability'))).toEqual([]);
    expect(JSON.stringify(deployed.get('Dev-Observability'))).not.toContain('Dev-Clicks');
    const otherOrder = deployedV1();
    expect(deployInto(otherOrder, 'Dev-Observability', removed.template('Dev-Observability'))).toEqual([]);
    expect(deployInto(otherOrder, 'Dev-Clicks', undefined)).toEqual([]);
  });
});

describe('cross-stack references', () => {
  test('counted, per importing stack', () => {
    const imports: Record<string, number> = {};
    const exportsCount: Record<string, number> = {};
    for (const stack of stacksOf(stages[0])) {
      const t = templateOf(stack);
      imports[stack.node.id] = importsOf(t).length;
      exportsCount[stack.node.id] = Object.values<any>(t.Outputs ?? {}).filter((o) => o.Export).length;
    }
    // Printed for docs/multi-stack.md: the pipelines read the lake (and the network); observability
    // reads only the lake's bucket ARNs (CloudTrail), and no stack reads observability.
    console.log(`Fn::ImportValue per stack (Dev): ${JSON.stringify(imports)}; exports: ${JSON.stringify(exportsCount)}`);
    expect(imports.Network).toBe(0);
    expect(imports.Lake).toBe(0);
    expect(imports.Observability).toBe(2);
    expect(exportsCount.Observability).toBe(0);
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
