import { App, Duration, Stack, Stage } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import fc from 'fast-check';
import {
  ApiAuth, ApiPagination, ApiPullIngestion, AthenaServing, DataPipeline, LakehouseTier, PipelineObservability, StreamingDedupIngestion,
} from '../src';
import {
  ATHENA_WORKGROUP_RULE, DASHBOARD_RULE, GLUE_NAME_RULE, IAM_ROLE_RULE, isValidName, LOG_GROUP_RULE, NameRule, PIPELINE_NAME_RULE, sanitizeName,
  stackScopedResourceName,
} from '../src/core/naming';

const SEED = 20261201;
const RULES: NameRule[] = [GLUE_NAME_RULE, ATHENA_WORKGROUP_RULE, IAM_ROLE_RULE, DASHBOARD_RULE, LOG_GROUP_RULE, PIPELINE_NAME_RULE];

/** Any text, ASCII and beyond (construct ids and stack names are free-form). */
const text = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 80 }));
/**
 * A construct id. Left out: "/" (CDK replaces it), empty ids, and names of Object.prototype
 * ("constructor"...), which the constructs library itself refuses as child ids.
 */
const constructId = fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !s.includes('/') && s.trim().length > 0 && !(s in {}));

describe('name sanitizers (limits checked 2026-12-01, sources in src/core/naming.ts)', () => {
  test('the documented limits', () => {
    const limits = [GLUE_NAME_RULE, ATHENA_WORKGROUP_RULE, IAM_ROLE_RULE, DASHBOARD_RULE, LOG_GROUP_RULE].map((r) => r.maxLength);
    expect(limits).toEqual([255, 128, 64, 255, 512]);
    expect(isValidName(GLUE_NAME_RULE, 'a'.repeat(255))).toBe(true);
    expect(isValidName(GLUE_NAME_RULE, 'a'.repeat(256))).toBe(false);
    expect(isValidName(GLUE_NAME_RULE, 'Sales')).toBe(false);
    expect(isValidName(ATHENA_WORKGROUP_RULE, 'a'.repeat(129))).toBe(false);
    expect(isValidName(IAM_ROLE_RULE, 'a'.repeat(65))).toBe(false);
    expect(isValidName(IAM_ROLE_RULE, 'dms-vpc-role')).toBe(true);
    expect(isValidName(DASHBOARD_RULE, 'lake.health')).toBe(false);
  });

  test.each(RULES.map((r) => [r.what, r] as const))('%s: any parts give a valid name, the same one every time', (_what, rule) => {
    fc.assert(fc.property(fc.array(text, { maxLength: 4 }), (parts) => {
      const name = sanitizeName(rule, parts);
      expect(isValidName(rule, name)).toBe(true);
      expect(sanitizeName(rule, parts)).toBe(name);
    }), { seed: SEED, numRuns: 500 });
  });

  test.each(RULES.map((r) => [r.what, r] as const))('%s: names already valid stay as they are; long ones that differ past the cut stay apart', (_what, rule) => {
    const validChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789');
    const valid = fc.string({ unit: validChar, minLength: 1, maxLength: rule.maxLength }).map((s) => `a${s}`.slice(0, rule.maxLength));
    fc.assert(fc.property(valid, (name) => {
      expect(sanitizeName(rule, [name])).toBe(name);
    }), { seed: SEED, numRuns: 300 });
    const long = fc.tuple(fc.string({ unit: validChar, minLength: rule.maxLength, maxLength: rule.maxLength + 50 }), validChar, validChar)
      .filter(([, x, y]) => x !== y);
    fc.assert(fc.property(long, ([stem, x, y]) => {
      const a = sanitizeName(rule, [`a${stem}${x}`]);
      const b = sanitizeName(rule, [`a${stem}${y}`]);
      expect(a.length).toBeLessThanOrEqual(rule.maxLength);
      expect(a).not.toBe(b);
    }), { seed: SEED, numRuns: 200 });
  });
});

describe('defaults built from construct ids are valid names', () => {
  test('LakehouseTier: lakeName and its three databases, for any stack name and id', () => {
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,127}$/), constructId, (stackName, id) => {
      const lake = new LakehouseTier(new Stack(new App(), stackName), id);
      for (const zone of lake.lakeZones) expect(isValidName(GLUE_NAME_RULE, zone.databaseName)).toBe(true);
    }), { seed: SEED, numRuns: 40 });
  });

  test('StreamingDedupIngestion: datasetName (tables, prefixes) and pipelineName', () => {
    const stack = new Stack(new App(), 'Data');
    const lake = new LakehouseTier(stack, 'Lake');
    let n = 0;
    fc.assert(fc.property(constructId, (id) => {
      // A fresh parent per run: the ids of the runs may repeat.
      const pipeline = new StreamingDedupIngestion(new Construct(stack, `Run${n++}`), id, { lake });
      expect(isValidName(GLUE_NAME_RULE, pipeline.rawTable.tableName)).toBe(true);
      expect(isValidName(PIPELINE_NAME_RULE, pipeline.pipelineName)).toBe(true);
    }), { seed: SEED, numRuns: 25 });
  }, 60_000);

  test('ApiPullIngestion: pipelineName', () => {
    const stack = new Stack(new App(), 'Data');
    const lake = new LakehouseTier(stack, 'Lake');
    const secret = new secretsmanager.Secret(stack, 'Secret');
    let n = 0;
    fc.assert(fc.property(constructId, (id) => {
      const api = apiPull(new Construct(stack, `Run${n++}`), id, lake, secret);
      expect(isValidName(PIPELINE_NAME_RULE, api.pipelineName)).toBe(true);
    }), { seed: SEED, numRuns: 25 });
  }, 60_000);

  test('PipelineObservability: the ops table names', () => {
    const stack = new Stack(new App(), 'Data');
    const lake = new LakehouseTier(stack, 'Lake');
    const pipelines = [ownPipeline(stack)];
    let n = 0;
    fc.assert(fc.property(constructId, (id) => {
      const obs = new PipelineObservability(new Construct(stack, `Run${n++}`), id, { lake, pipelines });
      expect(isValidName(GLUE_NAME_RULE, obs.logsTable!.tableName)).toBe(true);
      expect(isValidName(GLUE_NAME_RULE, obs.eventsTable!.tableName)).toBe(true);
      expect(obs.logsTable!.tableName).not.toBe(obs.eventsTable!.tableName);
    }), { seed: SEED, numRuns: 25 });
  }, 60_000);
});

describe('names that decide where data lives stay put when the construct moves', () => {
  test('ApiPullIngestion: the same id under another parent, in another stack or stage keeps pipelineName and raw prefix', () => {
    const app = new App();
    const a = new Stack(app, 'Ingest');
    const b = new Stack(new Stage(app, 'Prod'), 'Pipelines');
    const placements = [
      apiPull(a, 'ShopApi', new LakehouseTier(a, 'Lake'), new secretsmanager.Secret(a, 'S')),
      apiPull(new Construct(b, 'Team'), 'ShopApi', new LakehouseTier(b, 'Lake'), new secretsmanager.Secret(b, 'S')),
    ];
    expect(placements.map((p) => [p.pipelineName, p.rawPrefix])).toEqual([['shop-api', 'shop-api/'], ['shop-api', 'shop-api/']]);
  });

  test('StreamingDedupIngestion: dataset name, raw prefix and pipeline name follow the id only', () => {
    const app = new App();
    const a = new Stack(app, 'Ingest');
    const b = new Stack(new Stage(app, 'Prod'), 'Pipelines');
    const placements = [
      new StreamingDedupIngestion(a, 'ClickEvents', { lake: new LakehouseTier(a, 'Lake') }),
      new StreamingDedupIngestion(new Construct(b, 'Team'), 'ClickEvents', { lake: new LakehouseTier(b, 'Lake') }),
    ];
    expect(placements.map((p) => [p.rawTable.tableName, p.rawTable.prefix, p.pipelineName]))
      .toEqual([['click_events', 'click_events/', 'click-events'], ['click_events', 'click_events/', 'click-events']]);
  });

  test('account-level names differ between stages: lake databases, Athena workgroups', () => {
    const app = new App();
    const names = ['Dev', 'Staging'].map((stage) => {
      const stack = new Stack(new Stage(app, stage), 'Data');
      const lake = new LakehouseTier(stack, 'Lake');
      const serving = new AthenaServing(stack, 'Analysts', { lake });
      expect(isValidName(ATHENA_WORKGROUP_RULE, serving.workGroupName)).toBe(true);
      return [lake.raw.databaseName, serving.workGroupName];
    });
    expect(names[0][0]).toBe('dev_data_lake_raw');
    expect(names[1][0]).toBe('staging_data_lake_raw');
    expect(names[0][1]).not.toBe(names[1][1]);
  });
});

function apiPull(scope: Construct, id: string, lake: LakehouseTier, secret: secretsmanager.ISecret) {
  return new ApiPullIngestion(scope, id, {
    lake,
    endpoints: [{
      name: 'orders',
      url: 'https://api.example.com/v1/orders',
      schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      auth: ApiAuth.bearerToken(secret),
      pagination: ApiPagination.pageNumber({ pageSize: 100, pageSizeParameter: 'per_page' }),
      recordsPath: '$.orders',
      recordIdField: 'id',
    }],
  });
}

function ownPipeline(scope: Construct) {
  const metric = (metricName: string) => new cloudwatch.Metric({ namespace: 'Own', metricName });
  return new DataPipeline(scope, 'Own', { pipelineName: 'own', metrics: { throughput: metric('in'), errors: metric('errors') } });
}

describe('deterministic names of resources another stack refers to (stackScopedResourceName)', () => {
  /** CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128. */
  const stackName = fc.tuple(fc.constantFrom(...'ABCabcXyz'), fc.string({ unit: fc.constantFrom(...'abcXYZ019-'), maxLength: 127 })).map(([a, b]) => a + b);
  const limits = fc.constantFrom(64, 80, 255);

  test('any stack name and construct path: a name every service of the list accepts, within the limit, the same every time', () => {
    fc.assert(fc.property(stackName, fc.array(constructId, { minLength: 1, maxLength: 3 }), limits, fc.boolean(), (sn, ids, max, fifo) => {
      const stack = new Stack(new App(), 'S', { stackName: sn });
      let scope: Construct = stack;
      for (const [i, id] of ids.entries()) scope = new Construct(scope, `${id}${i}`);
      const suffix = fifo ? '.fifo' : '';
      const name = stackScopedResourceName(scope, max, suffix);
      expect(name.length).toBeLessThanOrEqual(max);
      expect(name).toMatch(fifo ? /^[A-Za-z0-9][A-Za-z0-9_-]*\.fifo$/ : /^[A-Za-z0-9][A-Za-z0-9_-]*$/);
      expect(stackScopedResourceName(scope, max, suffix)).toBe(name);
    }), { seed: SEED, numRuns: 300 });
  });

  test('two constructs of one stack never share a name, even when their paths sanitize alike; nor one path in two stages', () => {
    fc.assert(fc.property(fc.uniqueArray(constructId, { minLength: 2, maxLength: 6 }), limits, (ids, max) => {
      const stack = new Stack(new App(), 'Dev-Clicks');
      const names = ids.map((id) => stackScopedResourceName(new Construct(stack, id), max));
      expect(new Set(names).size).toBe(ids.length);
    }), { seed: SEED, numRuns: 200 });
    const app = new App();
    const inStage = (stage: string) => stackScopedResourceName(new Construct(new Stack(new Stage(app, stage), 'Clicks'), 'DedupFunction'), 64);
    expect(inStage('Dev')).not.toBe(inStage('Staging'));
    expect(inStage('Prod')).toMatch(/^Prod-Clicks-Dedup-Function-[0-9a-f]{8}$/);
    // "A/B" and "AB" sanitize alike; the hash of the path keeps them apart.
    const stack = new Stack(new App(), 'S');
    expect(stackScopedResourceName(new Construct(new Construct(stack, 'A'), 'B'), 64)).not.toBe(stackScopedResourceName(new Construct(stack, 'AB'), 64));
  });
});
