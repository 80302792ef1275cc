/**
 * The API vocabulary of docs/conventions.md, checked on every construct that has the knob: the
 * same prop name does the same thing, and an invalid value is refused naming that prop.
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import * as fc from 'fast-check';
import { ApiPullIngestion, AthenaServing, CdcIngestion, LakehouseTier, PipelineObservability, StreamingDedupIngestion } from '../src';
import { ILakehouse } from '../src/core/lake';
import { defaultPipelineName, GLUE_NAME_RULE, isValidName, PIPELINE_NAME_RULE, pipelineIdentifier, validatePipelineName } from '../src/core/naming';
import { DEFAULT_NAMESPACE, emfLine } from '../src/ingestion/api-pull/runtime/metrics';

/** Merge settings every ingestion shares, under the same names. */
interface MergeSizing {
  readonly mergeWorkerType?: string;
  readonly mergeNumberOfWorkers?: number;
  readonly mergeTimeout?: Duration;
  readonly mergeFlex?: boolean;
  readonly pipelineName?: string;
  readonly removalPolicy?: RemovalPolicy;
}

type Builder = (scope: Construct, id: string, lake: ILakehouse, extra: MergeSizing) => Construct;

/** One builder per ingestion: the smallest valid props plus the knobs under test. */
export const INGESTIONS: Record<string, Builder> = {
  CdcIngestion: (scope, id, lake, extra) => {
    const stack = Stack.of(scope);
    const vpc = (stack.node.tryFindChild('Vpc') as ec2.IVpc) ?? new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    return new CdcIngestion(scope, id, {
      lake,
      vpc,
      source: { secret: new secretsmanager.Secret(scope, `${id}Secret`), databaseName: 'shop' },
      tables: [{ name: 'public.orders', primaryKey: ['id'] }],
      ...extra,
    });
  },
  StreamingDedupIngestion: (scope, id, lake, extra) => new StreamingDedupIngestion(scope, id, { lake, ...extra }),
  ApiPullIngestion: (scope, id, lake, extra) => new ApiPullIngestion(scope, id, {
    lake,
    endpoints: [{ name: 'orders', url: 'https://api.example.com/orders', schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), recordIdField: 'id' }],
    ...extra,
  }),
};

function synth(name: string, extra: MergeSizing) {
  const stack = new Stack(new App(), 'Conventions');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  INGESTIONS[name](stack, 'Pipe', lake, extra);
  return Template.fromStack(stack);
}

describe.each(Object.keys(INGESTIONS))('%s: Glue sizing of the merge (mergeWorkerType, mergeNumberOfWorkers, mergeTimeout, mergeFlex)', (name) => {
  test('the four settings reach the Glue job', () => {
    const template = synth(name, { mergeWorkerType: 'G.2X', mergeNumberOfWorkers: 7, mergeTimeout: Duration.minutes(95), mergeFlex: true });
    const jobs = Object.values(template.findResources('AWS::Glue::Job')).map((j) => j.Properties);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ WorkerType: 'G.2X', NumberOfWorkers: 7, Timeout: 95, ExecutionClass: 'FLEX' });
  });

  test.each([
    ['mergeWorkerType', { mergeWorkerType: 'G.3X' }],
    ['mergeNumberOfWorkers', { mergeNumberOfWorkers: 1 }],
    ['mergeTimeout', { mergeTimeout: Duration.days(8) }],
    ['mergeFlex', { mergeWorkerType: 'G.4X', mergeFlex: true }],
  ] as Array<[string, MergeSizing]>)('an invalid value is refused naming %s', (prop, extra) => {
    expect(() => synth(name, extra)).toThrow(new RegExp(`${name}: invalid prop "${prop}"`));
  });
});

describe('the pipeline name: one rule (PIPELINE_NAME_RULE) on every ingestion', () => {
  const POSTGRES_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/; // unquoted, NAMEDATALEN - 1 = 63 bytes
  const SCHEDULER_NAME = /^[0-9a-zA-Z-_.]{1,64}$/;
  const GLUE_JOB_NAME = /^[A-Za-z0-9_.-]{1,255}$/;

  test('every name the rule accepts is valid where it flows: S3 prefix, Glue job, dimension, and as an identifier for Glue tables and PostgreSQL slots', () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z][a-z0-9_-]{0,62}$/), (name) => {
      expect(isValidName(PIPELINE_NAME_RULE, name)).toBe(true);
      expect(() => validatePipelineName('X', name)).not.toThrow();
      expect(pipelineIdentifier(name)).toMatch(POSTGRES_IDENTIFIER);
      expect(pipelineIdentifier(name)).toMatch(GLUE_NAME_RULE.pattern);
      expect(`${name}-cdc-merge`).toMatch(GLUE_JOB_NAME);
      expect(name.length).toBeLessThanOrEqual(64);
      expect(name).toMatch(SCHEDULER_NAME);
    }), { seed: 16, numRuns: 500 });
  });

  test('every other string is refused naming pipelineName, and the suggested fix is itself valid', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }).filter((s) => !/^[a-z][a-z0-9_-]{0,62}$/.test(s)), (name) => {
      let message = '';
      try { validatePipelineName('CdcIngestion', name); } catch (e) { message = (e as Error).message; }
      expect(message).toMatch(/^CdcIngestion: invalid prop "pipelineName": /);
      const suggestion = /use a name such as "([^"]*)"/.exec(message)![1];
      expect(isValidName(PIPELINE_NAME_RULE, suggestion)).toBe(true);
    }), { seed: 16, numRuns: 500 });
  });

  test('the default, from any construct id, is a valid name', () => {
    fc.assert(fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9 _.-]{1,70}$/).filter((s) => s.trim() !== '' && !(s in Object.prototype)), { minLength: 1, maxLength: 3 }), (ids) => {
      const stack = new Stack(undefined, 'S');
      let scope: Construct = stack;
      for (const id of ids) scope = new Construct(scope, id);
      expect(isValidName(PIPELINE_NAME_RULE, defaultPipelineName(scope))).toBe(true);
      expect(defaultPipelineName(scope)).toBe(defaultPipelineName(new Construct(new Stack(undefined, 'Other'), ids[ids.length - 1])));
    }), { seed: 16, numRuns: 200 });
  });

  describe.each(Object.keys(INGESTIONS))('%s', (name) => {
    test('pipelineName is optional: the default comes from the construct id (not its parents or stack)', () => {
      const stack = new Stack(new App(), 'AnyStackName');
      const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
      const pipe = INGESTIONS[name](new Construct(stack, 'Ingestion'), 'ShopOrders', lake, {}) as unknown as { pipelineName: string };
      expect(pipe.pipelineName).toBe('shop-orders');
    });

    test.each(['Shop', 'shop.orders', '1shop', 'a'.repeat(64)])('"%s" is refused naming pipelineName', (bad) => {
      expect(() => synth(name, { pipelineName: bad })).toThrow(new RegExp(`${name}: invalid prop "pipelineName"`));
    });

    test('a name with "-" and "_" is accepted and becomes the metrics dimension', () => {
      const stack = new Stack(new App(), 'S');
      const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
      const pipe = INGESTIONS[name](stack, 'P', lake, { pipelineName: 'shop-orders_v2' }) as unknown as { pipelineName: string };
      expect(pipe.pipelineName).toBe('shop-orders_v2');
    });
  });

  test('CdcIngestion maps "-" to "_" for its curated table prefix', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
    const cdc = INGESTIONS.CdcIngestion(stack, 'P', lake, { pipelineName: 'shop-db' }) as CdcIngestion;
    expect(cdc.tableNamePrefix).toBe('shop_db_');
    expect(cdc.curatedTableNames).toEqual(['shop_db_public_orders']);
  });
});

describe('removalPolicy on all six constructs: RETAIN by default, the prop or the app context decides', () => {
  const STATEFUL = ['AWS::KMS::Key', 'AWS::S3::Bucket', 'AWS::DynamoDB::Table', 'AWS::Kinesis::Stream', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup'];
  const BUILDERS: Record<string, (scope: Construct, lake: LakehouseTier, removalPolicy?: RemovalPolicy) => void> = {
    ...Object.fromEntries(Object.entries(INGESTIONS).map(([name, b]) => [name,
      (scope: Construct, lake: LakehouseTier, removalPolicy?: RemovalPolicy) => {
        b(scope, 'Pipe', lake, { removalPolicy });
      }])),
    AthenaServing: (scope, lake, removalPolicy) => new AthenaServing(scope, 'Pipe', { lake, removalPolicy }),
    PipelineObservability: (scope, lake, removalPolicy) => new PipelineObservability(scope, 'Pipe', {
      lake, removalPolicy, pipelines: [new StreamingDedupIngestion(scope, 'Watched', { lake })],
    }),
  };

  /** DeletionPolicy of each stateful resource the construct (not the lake) creates. */
  function policies(name: string, removalPolicy?: RemovalPolicy, context?: Record<string, unknown>): string[] {
    const stack = new Stack(new App({ context }), 'S');
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake', removalPolicy: RemovalPolicy.RETAIN });
    BUILDERS[name](stack, lake, removalPolicy);
    const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string }>;
    return Object.entries(resources)
      .filter(([logicalId, r]) => STATEFUL.includes(r.Type) && logicalId.startsWith('Pipe'))
      .map(([logicalId, r]) => `${logicalId} ${r.Type}:${r.DeletionPolicy ?? 'Delete'}`);
  }

  describe.each(Object.keys(BUILDERS))('%s', (name) => {
    test('default: every stateful resource is retained', () => {
      const found = policies(name);
      expect(found.length).toBeGreaterThan(0);
      expect(found.filter((p) => !p.endsWith(':Retain'))).toEqual([]);
    });

    test('removalPolicy: DESTROY deletes them, and so does the cdk-lakehouse:destroyOnRemoval context', () => {
      for (const found of [policies(name, RemovalPolicy.DESTROY), policies(name, undefined, { 'cdk-lakehouse:destroyOnRemoval': true })]) {
        expect(found.filter((p) => !p.endsWith(':Delete'))).toEqual([]);
      }
    });

    test('an explicit RETAIN wins over the context', () => {
      expect(policies(name, RemovalPolicy.RETAIN, { 'cdk-lakehouse:destroyOnRemoval': true }).filter((p) => !p.endsWith(':Retain'))).toEqual([]);
    });
  });
});

describe('metrics: metricX(props?) methods that read what the runtime emits', () => {
  test('ApiPullIngestion: the puller\'s EMF line carries the namespace and a dimension set of every metric method, and the dashboard labels say what they show', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
    const api = INGESTIONS.ApiPullIngestion(stack, 'Shop', lake, {}) as ApiPullIngestion;
    const methods = [api.metricRecordsPulled(), api.metricPagesPulled(), api.metricBytesPulled(), api.metricPagesQuarantined(),
      api.metricWatermarkAdvanced(), api.metricWatermarkAge()];
    const values = Object.fromEntries(methods.map((m) => [m.metricName, 1]));
    const emf = JSON.parse(emfLine(DEFAULT_NAMESPACE, api.pipelineName, 'orders', values, new Date()));
    const cw = emf._aws.CloudWatchMetrics[0];
    for (const m of methods) {
      expect(cw.Namespace).toBe(m.namespace);
      expect(cw.Metrics.map((x: { Name: string }) => x.Name)).toContain(m.metricName);
      expect(cw.Dimensions).toContainEqual(Object.keys(m.dimensions!));
      for (const [k, v] of Object.entries(m.dimensions!)) expect(emf[k]).toBe(v);
      expect(m.label).toBeDefined();
    }
    // One endpoint: the second dimension set.
    const perEndpoint = api.metricRecordsPulled({ dimensionsMap: { Pipeline: api.pipelineName, Endpoint: 'orders' } });
    expect(cw.Dimensions).toContainEqual(Object.keys(perEndpoint.dimensions!));
    expect((api.pipelineMetrics.throughput as { label?: string }).label).toBe('Records pulled');
  });

  test('AthenaServing: metricProcessedBytes / metricSucceededQueries / metricFailedQueries replace metricAthena(name, state, stat)', () => {
    const stack = new Stack(new App(), 'S');
    const serving = new AthenaServing(stack, 'Serving', { lake: new LakehouseTier(stack, 'Lake', { lakeName: 'lake' }), workGroupName: 'wg' });
    expect(serving.metricProcessedBytes()).toMatchObject({ namespace: 'AWS/Athena', metricName: 'ProcessedBytes', statistic: 'Sum', label: 'Bytes scanned' });
    expect(serving.metricProcessedBytes().dimensions).toEqual({ WorkGroup: 'wg', QueryState: 'SUCCEEDED', QueryType: 'DML' });
    expect(serving.metricSucceededQueries()).toMatchObject({ metricName: 'TotalExecutionTime', statistic: 'SampleCount', label: 'Succeeded queries' });
    expect(serving.metricFailedQueries().dimensions).toEqual({ WorkGroup: 'wg', QueryState: 'FAILED', QueryType: 'DML' });
    expect(serving.metricFailedQueries({ period: Duration.hours(1) }).period.toHours()).toBe(1);
    expect((serving as unknown as Record<string, unknown>).metricAthena).toBeUndefined();
  });

  test('StreamingDedupIngestion: the Pipeline dimension, and props override the defaults', () => {
    const stack = new Stack(new App(), 'S');
    const s = INGESTIONS.StreamingDedupIngestion(stack, 'Clicks', new LakehouseTier(stack, 'Lake', { lakeName: 'lake' }), {}) as StreamingDedupIngestion;
    expect(s.metricRecordsNew()).toMatchObject({ namespace: 'CdkLakehouse/Streaming', metricName: 'RecordsNew', statistic: 'Sum' });
    expect(s.metricRecordsNew().dimensions).toEqual({ Pipeline: 'clicks' });
    expect(s.metricRecordsDuplicate({ statistic: 'Maximum' }).statistic).toBe('Maximum');
  });
});
