/**
 * Workflow tier: every state machine the library makes is executed in moto's ASL interpreter with
 * exactly the input its trigger sends (each Scheduler target's input from the synthesized template,
 * each integ test's startExecution input from the synthesized assertion stack), through the success
 * path and every Catch path; only the service calls are stubbed (AWS Step Functions Local's
 * mocked-response format). See docs/testing.md, "Workflows".
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as fc from 'fast-check';
import { Mocked, resolve, runWorkflows, SCHEDULED_TIME, scheduleTriggers, stateMachines, Trigger, WorkflowCase, WorkflowResult } from './workflow-harness';
import {
  ApiAuth, ApiPagination, ApiPullIngestion, AthenaServing, LakehouseTier, ReportFormat,
} from '../../src';
import { RUN_FAILED } from '../../src/ingestion/api-pull/api-pull-workflow';
import { ERROR_NAMES } from '../../src/ingestion/api-pull/runtime/errors';
import { normalizeInstant, PullResult, UploadItem } from '../../src/ingestion/api-pull/runtime/puller';

jest.setTimeout(180_000);

type Json = any;

// ---- stubs at the service boundary -------------------------------------------------------------

/** A Lambda invocation that returned `payload` (the Invoke API's response). */
const lambdaReturns = (payload: unknown): Mocked => ({ Return: { StatusCode: 200, Payload: payload } });
/** A Lambda invocation whose handler threw: Step Functions names the error after `errorType`. */
const lambdaThrows = (errorType: string, errorMessage: string): Mocked => ({
  Return: { StatusCode: 200, FunctionError: 'Unhandled', Payload: { errorType, errorMessage } },
});
const ok = (value: unknown = {}): Mocked => ({ Return: value });
const fails = (error: string, cause = 'stubbed failure'): Mocked => ({ Throw: { Error: error, Cause: cause } });
const times = (n: number, mocked: Mocked): Mocked[] => Array.from({ length: n }, () => mocked);

/** What the puller returns for a landed run (the PullResult contract, type-checked against the runtime). */
function pullResult(endpoint: string, windowEnd: string, tableName = endpoint): PullResult {
  const runId = `19700101T000000Z-${windowEnd.replace(/[-:]/g, '')}`;
  const runPrefix = `shop/${endpoint}/window=${runId}/`;
  return {
    endpoint,
    runId,
    windowStart: '1970-01-01T00:00:00Z',
    windowEnd,
    bucket: 'raw-bucket',
    runPrefix,
    manifestKey: `${runPrefix}_manifest.json`,
    manifestUrl: `s3://raw-bucket/${runPrefix}_manifest.json`,
    pages: 3,
    records: 6,
    bytes: 600,
    recordsPath: '$.data',
    recordIdField: 'id',
    tableName,
  };
}

// ---- ApiPullIngestion -----------------------------------------------------------------------------

interface ApiPullFixture {
  readonly template: Json;
  readonly definition: string;
  readonly stateMachineArn: string;
  readonly triggers: Trigger[];
  readonly failuresPrefix: string;
  readonly pipeline: ApiPullIngestion;
  readonly stack: Stack;
}

function apiPullFixture(extra: { uploads?: boolean; notifyOnSuccess?: boolean } = {}): ApiPullFixture {
  const stack = new Stack(new App(), 'Api');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
  const secret = new secretsmanager.Secret(stack, 'ApiSecret');
  const pipeline = new ApiPullIngestion(stack, 'Shop', {
    lake,
    pipelineName: 'shop',
    notifyOnSuccess: extra.notifyOnSuccess,
    uploadDrop: extra.uploads ? {} : undefined,
    endpoints: [
      {
        name: 'orders',
        url: 'https://api.example.com/v1/orders',
        schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
        auth: ApiAuth.bearerToken(secret),
        pagination: ApiPagination.cursor({ cursorPath: '$.meta.next', parameter: 'after' }),
        recordsPath: '$.data',
        recordIdField: 'id',
        incremental: { sinceParameter: 'updated_since' },
      },
      {
        name: 'customers',
        url: 'https://api.example.com/v1/customers',
        schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '2' }),
        pagination: ApiPagination.pageNumber({ pageSize: 100, pageSizeParameter: 'per_page' }),
        recordsPath: '$.customers',
        recordIdField: 'customer.id',
        tableName: 'customers_v1',
      },
    ],
  });
  const template = Template.fromStack(stack).toJSON() as any;
  const machines = stateMachines(template);
  const ids = Object.keys(machines);
  expect(ids).toHaveLength(1);
  const { arn, definition } = machines[ids[0]];
  const triggers = scheduleTriggers(template).filter((t) => t.stateMachineArn === arn);
  return { template, definition, stateMachineArn: arn, triggers, failuresPrefix: '_ops/api-pull/shop/failures/', pipeline, stack };
}

/** Stubs of a run that succeeds: the pull lands the window that ends at the run's end, the job and the commit succeed. */
function happyMocks(endpoint: string, windowEnd: string, tableName = endpoint): Record<string, Mocked[]> {
  return {
    'Pull pages into raw': [lambdaReturns(pullResult(endpoint, windowEnd, tableName))],
    'Transform into curated': [ok({ JobRunId: 'jr_1', JobRunState: 'SUCCEEDED' })],
    'Commit watermark': [lambdaReturns({ advanced: true, watermark: windowEnd })],
    'Notify success': [ok({ MessageId: 'm-1' })],
    'Record failure': [ok({ ETag: '"e"' })],
    'Notify failure': [ok({ MessageId: 'm-2' })],
  };
}

const PULL_PATH = ['Read input', 'Fill input defaults', 'Which endpoint?'];
const FAILURE_PATH = ['Record failure', 'Notify failure', 'Run failed'];

/** An SNS Publish message: Step Functions sends a JSON object as its text. */
const messageOf = (publish: Json) => (typeof publish.Message === 'string' ? JSON.parse(publish.Message) : publish.Message);

/** The run ended FAILED with the workflow's own error; its cause names the error that failed it. */
function expectFailedWith(result: WorkflowResult, error: string) {
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe(RUN_FAILED);
  expect(JSON.parse(result.cause!)).toMatchObject({ Error: error });
}

/** The failure record and the notification of a failed run hold the run's input and its error. */
function expectRecordedAndNotified(fixture: ApiPullFixture, result: WorkflowResult, input: Json, error: string) {
  expectFailedWith(result, error);
  expect(result.entered.slice(-3)).toEqual(FAILURE_PATH);
  const [put] = result.taskInputs['Record failure'];
  expect(put.Bucket).toBe(resolve(fixture.template, fixture.stack.resolve(fixture.pipeline.lake.raw.bucket.bucketName)));
  expect(put.Key).toMatch(new RegExp(`^${fixture.failuresPrefix.replace(/[/]/g, '\\/')}case-\\d+\\.json$`));
  const recorded = JSON.parse(put.Body);
  expect(recorded).toMatchObject(input);
  expect(recorded.error.Error).toBe(error);
  const [publish] = result.taskInputs['Notify failure'];
  expect(publish.TopicArn).toMatch(/^arn:aws:sns:/);
  expect(messageOf(publish)).toMatchObject({ pipeline: 'shop', error: { Error: error }, run: expect.objectContaining(input) });
}

describe('ApiPullIngestion workflow, run with its triggers\' exact inputs', () => {
  const plain = apiPullFixture();
  const full = apiPullFixture({ uploads: true, notifyOnSuccess: true });

  test('each endpoint schedule sends {endpoint, scheduledTime} and nothing else', () => {
    expect(plain.triggers.map((t) => JSON.parse(t.input))).toEqual([
      { endpoint: 'orders', scheduledTime: SCHEDULED_TIME },
      { endpoint: 'customers', scheduledTime: SCHEDULED_TIME },
    ]);
    expect(full.triggers.map((t) => JSON.parse(t.input))).toContainEqual({ mode: 'uploads' });
  });

  // One Python process for every case of this block.
  const endpointOf = (t: Trigger) => JSON.parse(t.input).endpoint as string;
  const tableOf = (endpoint: string) => (endpoint === 'customers' ? 'customers_v1' : endpoint);
  const orders = plain.triggers[0];
  const cases: Array<WorkflowCase & { check: (r: WorkflowResult) => void }> = [];
  const add = (fixture: ApiPullFixture, name: string, trigger: Trigger, mocks: Record<string, Mocked[]>, check: (r: WorkflowResult) => void) =>
    cases.push({ name, definition: fixture.definition, input: trigger.input, mocks, check });

  // Success path of every pull schedule, with and without the success notice.
  for (const fixture of [plain, full]) {
    for (const trigger of fixture.triggers.filter((t) => JSON.parse(t.input).endpoint)) {
      const endpoint = endpointOf(trigger);
      add(fixture, `${endpoint} schedule succeeds (${fixture === plain ? 'plain' : 'notify on success'})`, trigger,
        happyMocks(endpoint, SCHEDULED_TIME, tableOf(endpoint)), (r) => {
          expect(r.status).toBe('SUCCEEDED');
          const optional = fixture === full ? ['Pull or uploads?'] : [];
          const notify = fixture === full ? ['Notify success'] : [];
          expect(r.entered).toEqual([...optional, ...PULL_PATH, `Endpoint ${endpoint}`, 'Pull pages into raw', 'Transform into curated',
            'Commit watermark', ...notify, 'Run succeeded']);
          // The puller gets the schedule's fields as they are (absent ones absent, none null), the
          // action and the endpoint's configuration from the definition.
          const [event] = r.taskInputs['Pull pages into raw'];
          expect(event).toMatchObject({ action: 'pull', endpoint, scheduledTime: SCHEDULED_TIME, config: { name: endpoint, tableName: tableOf(endpoint) } });
          expect(event).not.toHaveProperty('windowStart');
          expect(event).not.toHaveProperty('windowEnd');
          expect(Object.values(event)).not.toContain(null);
          expect(normalizeInstant(event.executionStartTime, 'executionStartTime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          // The transform and the commit take what the pull landed.
          const landed = pullResult(endpoint, SCHEDULED_TIME, tableOf(endpoint));
          expect(r.taskInputs['Transform into curated'][0]).toMatchObject({
            Arguments: { '--manifest_url': landed.manifestUrl, '--records_path': '$.data', '--record_id': 'id', '--table': tableOf(endpoint) },
          });
          expect(r.taskInputs['Commit watermark']).toEqual([{ action: 'commit', endpoint, runId: landed.runId, windowEnd: SCHEDULED_TIME }]);
          expect(r.taskInputs['Record failure']).toBeUndefined();
          if (fixture === full) expect(messageOf(r.taskInputs['Notify success'][0])).toEqual(landed);
        });
    }
  }

  // Every Catch path, from the orders schedule's input.
  const input = JSON.parse(orders.input);
  add(plain, 'pull fails with a client error: not retried, recorded, notified', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Pull pages into raw': [lambdaThrows(ERROR_NAMES.client, 'HTTP 403')] }, (r) => {
      expect(r.taskInputs['Pull pages into raw']).toHaveLength(1);
      expect(r.entered).toEqual([...PULL_PATH, 'Endpoint orders', 'Pull pages into raw', ...FAILURE_PATH]);
      expectRecordedAndNotified(plain, r, input, ERROR_NAMES.client);
    });
  add(plain, 'pull stays transient: 3 attempts with backoff, then recorded', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Pull pages into raw': times(3, lambdaThrows(ERROR_NAMES.transient, 'HTTP 503')) }, (r) => {
      expect(r.taskInputs['Pull pages into raw']).toHaveLength(3);
      expect(r.retryWaits).toHaveLength(2);
      expectRecordedAndNotified(plain, r, input, ERROR_NAMES.transient);
    });
  add(plain, 'Lambda service errors are retried, then the pull succeeds', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Pull pages into raw': [fails('Lambda.ServiceException'), fails('Lambda.TooManyRequestsException'), lambdaReturns(pullResult('orders', SCHEDULED_TIME))] }, (r) => {
      expect(r.status).toBe('SUCCEEDED');
      expect(r.taskInputs['Pull pages into raw']).toHaveLength(3);
    });
  add(plain, 'transform job fails twice: one retry, then recorded; the watermark is not committed', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Transform into curated': times(2, fails('States.TaskFailed', 'JobRun FAILED')) }, (r) => {
      expect(r.taskInputs['Transform into curated']).toHaveLength(2);
      expect(r.taskInputs['Commit watermark']).toBeUndefined();
      expectRecordedAndNotified(plain, r, input, 'States.TaskFailed');
    });
  add(plain, 'commit keeps failing: 6 attempts, then recorded', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Commit watermark': times(6, lambdaThrows('ProvisionedThroughputExceededException', 'DynamoDB throttled')) }, (r) => {
      expect(r.taskInputs['Commit watermark']).toHaveLength(6);
      expectRecordedAndNotified(plain, r, input, 'ProvisionedThroughputExceededException');
    });
  add(plain, 'the failure record cannot be written: the run is still notified and fails, its cause naming the original error', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Pull pages into raw': [lambdaThrows(ERROR_NAMES.config, 'secret')], 'Record failure': times(4, fails('S3.AccessDenied')) }, (r) => {
      expect(r.taskInputs['Record failure']).toHaveLength(4);
      expect(r.entered.slice(-3)).toEqual(FAILURE_PATH);
      expect(r.taskInputs['Notify failure']).toHaveLength(1);
      expectFailedWith(r, ERROR_NAMES.config);
    });
  add(plain, 'the notification cannot be sent: the run still fails, its cause naming the original error', orders,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Pull pages into raw': [lambdaThrows(ERROR_NAMES.badInput, 'html')], 'Notify failure': times(4, fails('SNS.KMSAccessDenied')) }, (r) => {
      expect(r.taskInputs['Notify failure']).toHaveLength(4);
      expectFailedWith(r, ERROR_NAMES.badInput);
    });
  add(full, 'the success notice cannot be sent: recorded and notified as a failed run', full.triggers.find((t) => endpointOf(t) === 'orders')!,
    { ...happyMocks('orders', SCHEDULED_TIME), 'Notify success': times(4, fails('SNS.InternalError')) }, (r) => {
      expect(r.taskInputs['Commit watermark']).toHaveLength(1);
      expectRecordedAndNotified(full, r, input, 'SNS.InternalError');
    });

  // The upload drop's schedule.
  const uploadsTrigger = full.triggers.find((t) => JSON.parse(t.input).mode === 'uploads')!;
  const uploads: UploadItem[] = ['a.csv', 'b.json'].map((f) => ({
    endpoint: 'orders',
    key: `shop/_uploads/orders/${f}`,
    uploadUrl: `s3://raw-bucket/shop/_uploads/orders/${f}`,
    recordsPath: '$.data',
    recordIdField: 'id',
    tableName: 'orders',
  }));
  const uploadMocks = {
    'List uploads': [lambdaReturns({ uploads })],
    'Transform upload': [ok({ JobRunState: 'SUCCEEDED' })],
    'Move upload to _done': [lambdaReturns({ moved: true })],
    'Record failure': [ok()],
    'Notify failure': [ok()],
  };
  add(full, 'upload schedule: each listed file is merged, then moved to _done', uploadsTrigger, uploadMocks, (r) => {
    expect(r.status).toBe('SUCCEEDED');
    expect(r.entered[0]).toBe('Pull or uploads?');
    expect(r.entered).toContain('Uploads merged');
    expect(r.taskInputs['List uploads'][0]).toMatchObject({ action: 'listUploads', endpoints: [{ name: 'orders' }, { name: 'customers' }] });
    expect(r.taskInputs['Transform upload'].map((p) => p.Arguments['--upload_url']).sort()).toEqual(uploads.map((u) => u.uploadUrl));
    expect(r.taskInputs['Move upload to _done'].map((p) => p.key).sort()).toEqual(uploads.map((u) => u.key));
  });
  add(full, 'upload schedule: a file the job cannot merge fails the run, recorded and notified', uploadsTrigger,
    { ...uploadMocks, 'Transform upload': [fails('Glue.AccessDeniedException', 'no')] }, (r) => {
      expect(r.taskInputs['Move upload to _done']).toBeUndefined();
      expectRecordedAndNotified(full, r, { mode: 'uploads' }, 'Glue.AccessDeniedException');
    });
  add(full, 'upload schedule: listing fails, recorded and notified', uploadsTrigger,
    { ...uploadMocks, 'List uploads': [lambdaThrows(ERROR_NAMES.config, 'no drop')] }, (r) => {
      expectRecordedAndNotified(full, r, { mode: 'uploads' }, ERROR_NAMES.config);
    });

  const results = runWorkflows(cases);
  test.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    const result = results[i];
    expect(result.status).not.toBe('INVALID_DEFINITION');
    cases[i].check(result);
  });
});

describe('ApiPullIngestion workflow, hand-started runs (generated inputs)', () => {
  // Any object a person or a script may start a run with: the schedule's fields, each present or
  // absent, an endpoint that exists, does not exist or is missing, extra fields, and fields the
  // definition fixes (which the input must not override).
  const fixture = apiPullFixture();
  const instant = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString());
  const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null));
  const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
  const inputs = fc.record({
    endpoint: optional(fc.oneof(fc.constantFrom('orders', 'customers'), fc.string({ maxLength: 10 }).filter((s) => s !== 'orders' && s !== 'customers'))),
    scheduledTime: optional(instant),
    windowStart: optional(instant),
    windowEnd: optional(instant),
    note: optional(scalar),
    requestedBy: optional(scalar),
    action: optional(fc.constantFrom('commit', 'listUploads')),
    config: optional(fc.record({ url: fc.constant('https://evil.example.com/') })),
  }).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Json);
  const samples = fc.sample(inputs, { seed: 20261201, numRuns: 40 });
  const known = (i: Json) => i.endpoint === 'orders' || i.endpoint === 'customers';

  test('the sample covers known, unknown and missing endpoints and every optional field both ways', () => {
    expect(samples.some(known)).toBe(true);
    expect(samples.some((i) => typeof i.endpoint === 'string' && !known(i))).toBe(true);
    expect(samples.some((i) => !('endpoint' in i))).toBe(true);
    for (const field of ['scheduledTime', 'windowStart', 'windowEnd']) {
      expect(samples.some((i) => field in i && known(i))).toBe(true);
      expect(samples.some((i) => !(field in i) && known(i))).toBe(true);
    }
  });

  const results = runWorkflows(samples.map((input, i) => ({
    name: `generated ${i}`,
    definition: fixture.definition,
    input: JSON.stringify(input),
    mocks: happyMocks(input.endpoint, SCHEDULED_TIME, input.endpoint === 'customers' ? 'customers_v1' : input.endpoint),
  })));

  test('no input ends in States.Runtime; a known endpoint is pulled with the input\'s own fields, any other is recorded and notified', () => {
    samples.forEach((input, i) => {
      const r = results[i];
      expect(r.error).not.toBe('States.Runtime');
      if (!known(input)) {
        expect(r.entered).toEqual([...PULL_PATH, 'Unknown endpoint', ...FAILURE_PATH]);
        // The record holds the run as the workflow read it: the input, with the fields the definition fixes.
        const { action: _action, config: _config, ...own } = input;
        expectRecordedAndNotified(fixture, r, own, ERROR_NAMES.config);
        expect(JSON.parse(r.taskInputs['Record failure'][0].Body).action).toBe('pull');
        return;
      }
      expect(r.status).toBe('SUCCEEDED');
      const [event] = r.taskInputs['Pull pages into raw'];
      // The definition's fields win over the input's; the input's own fields arrive unchanged; absent ones stay absent.
      expect(event.action).toBe('pull');
      expect(event.config.url).toMatch(/^https:\/\/api\.example\.com\//);
      expect(event.config.name).toBe(input.endpoint);
      for (const [key, value] of Object.entries(input)) {
        if (key !== 'action' && key !== 'config') expect(event[key]).toEqual(value);
      }
      for (const field of ['scheduledTime', 'windowStart', 'windowEnd']) {
        if (!(field in input)) expect(event).not.toHaveProperty(field);
      }
    });
  });
});

describe('integ.api-pull.ts: its start input runs through the workflow it deploys', () => {
  // Synthesizes the integ app itself: the start input and the expected watermark come from its assertion stack.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const integ = require('../../integ/integ.api-pull') as { app: App; RUN_TIME: string };
  const assembly = integ.app.synth();
  const testStack = assembly.getStackByName('ApiPullIntegStack').template;
  const assertStack = assembly.stacks.find((s) => s.stackName.startsWith('ApiPullIntegDefaultTestDeployAssert'))!.template;
  const calls = Object.values(assertStack.Resources as Record<string, Json>).map((r) => r.Properties ?? {});
  const startCall = calls.find((p) => p.service === 'StepFunctions' && p.api === 'startExecution');
  const watermarkCall = calls.find((p) => p.service === 'DynamoDB' && p.api === 'getItem');
  const input: string = JSON.parse(startCall.parameters.input);
  const machines = stateMachines(testStack);
  const [machineId] = Object.keys(machines);

  test('the integ test starts the pipeline\'s workflow with what the orders schedule sends', () => {
    expect(Object.keys(machines)).toHaveLength(1);
    const exportName = startCall.parameters.stateMachineArn['Fn::Join'][1][1]['Fn::ImportValue'].split(':')[1];
    const output = Object.values(testStack.Outputs as Record<string, Json>).find((o) => o.Export?.Name?.endsWith?.(exportName)
      || JSON.stringify(o.Export?.Name ?? '').includes(exportName));
    expect(output.Value).toEqual({ Ref: machineId });
    const [scheduleInput] = scheduleTriggers(testStack).map((t) => JSON.parse(t.input));
    expect(Object.keys(JSON.parse(input)).sort()).toEqual(Object.keys(scheduleInput).sort());
    expect(JSON.parse(input)).toEqual({ endpoint: 'orders', scheduledTime: integ.RUN_TIME });
  });

  test('that input succeeds, and the pulled window ends where the integ test expects the watermark', () => {
    const expectedWatermark = JSON.parse(watermarkCall.expected).$ObjectLike.Item.watermark.S;
    const [r] = runWorkflows([{ name: 'integ start', definition: machines[machineId].definition, input, mocks: happyMocks('orders', expectedWatermark) }]);
    expect(r.status).toBe('SUCCEEDED');
    const [event] = r.taskInputs['Pull pages into raw'];
    // The puller ends the window at windowEnd ?? scheduledTime ?? executionStartTime (runtime/puller.ts).
    expect(normalizeInstant(event.windowEnd ?? event.scheduledTime ?? event.executionStartTime, 'windowEnd')).toBe(expectedWatermark);
    expect(r.taskInputs['Commit watermark'][0].windowEnd).toBe(expectedWatermark);
  });
});

// ---- AthenaServing: scheduled queries and Iceberg maintenance (JSONata workflows) -----------------

describe('AthenaServing scheduled workflows, run with their schedules\' exact inputs', () => {
  const stack = new Stack(new App(), 'Serving');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
  const serving = new AthenaServing(stack, 'Analysts', { lake });
  const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
  const csv = serving.addScheduledQuery('Daily', { queryName: 'daily-revenue', sql: 'SELECT 1 AS one', schedule: scheduler.ScheduleExpression.expression('cron(0 6 * * ? *)') });
  const parquet = serving.addScheduledQuery('Weekly', {
    queryName: 'weekly', sql: 'SELECT id FROM orders', schedule: scheduler.ScheduleExpression.expression('cron(0 7 ? * MON *)'), format: ReportFormat.PARQUET, reads: { tables: [orders] },
  });
  const maintenance = serving.addIcebergMaintenance('OrdersMaintenance', { table: orders, schedule: scheduler.ScheduleExpression.expression('cron(0 3 ? * SUN *)') });
  const template = Template.fromStack(stack).toJSON() as any;
  const machines = stateMachines(template);
  const triggers = scheduleTriggers(template);
  const machineOf = (workflow: { stateMachine: { node: { defaultChild?: unknown } } }) => {
    const id = stack.getLogicalId(workflow.stateMachine.node.defaultChild as never);
    const trigger = triggers.find((t) => t.stateMachineArn === machines[id].arn)!;
    return { definition: machines[id].definition, input: trigger.input };
  };
  const runKey = SCHEDULED_TIME.replace(/:/g, '-');
  const resultsBucket = resolve(template, stack.resolve(serving.resultsBucket.bucketName));
  const query = (id: string, outputLocation = `s3://${resultsBucket}/results/${id}.csv`) => ok({
    QueryExecution: { QueryExecutionId: id, Status: { State: 'SUCCEEDED' }, ResultConfiguration: { OutputLocation: outputLocation } },
  });

  const cases: Array<WorkflowCase & { check: (r: WorkflowResult) => void }> = [];
  const add = (name: string, wf: { definition: string; input: string }, mocks: Record<string, Mocked[]>, check: (r: WorkflowResult) => void) =>
    cases.push({ name, ...wf, mocks, check });
  const notified = (r: WorkflowResult, state: string) => JSON.parse(r.taskInputs[state][0].Message);

  test('every schedule sends {runKey: <scheduled time>}', () => {
    expect(triggers).toHaveLength(3);
    for (const t of triggers) expect(JSON.parse(t.input)).toEqual({ runKey: SCHEDULED_TIME });
  });

  add('CSV report: query, copy to the stable name, notify', machineOf(csv),
    { RunQuery: [query('q-1')], CopyReport: [ok({})], NotifySuccess: [ok({ MessageId: 'm' })] }, (r) => {
      expect(r.status).toBe('SUCCEEDED');
      expect(r.entered).toEqual(['Prepare', 'RunQuery', 'CopyReport', 'NotifySuccess']);
      expect(r.taskInputs.RunQuery[0]).toMatchObject({ QueryString: 'SELECT 1 AS one', WorkGroup: expect.any(String) });
      expect(r.taskInputs.CopyReport[0]).toMatchObject({
        Bucket: resultsBucket, Key: `${serving.reportsPrefix}daily-revenue/${runKey}.csv`, CopySource: `${resultsBucket}/results/q-1.csv`,
      });
      expect(notified(r, 'NotifySuccess')).toMatchObject({
        status: 'SUCCEEDED', runKey, queryExecutionId: 'q-1', report: `s3://${resultsBucket}/${serving.reportsPrefix}daily-revenue/${runKey}.csv`,
      });
    });
  add('CSV report: the query fails → NotifyFailure → Failed', machineOf(csv),
    { RunQuery: [fails('Athena.InvalidRequestException', 'syntax error')], NotifyFailure: [ok({})] }, (r) => {
      expect(r.entered).toEqual(['Prepare', 'RunQuery', 'NotifyFailure', 'Failed']);
      expect(r.status).toBe('FAILED');
      expect(r.error).toBe('ScheduledQueryFailed');
      expect(notified(r, 'NotifyFailure')).toMatchObject({ status: 'FAILED', runKey, error: 'Athena.InvalidRequestException' });
    });
  add('CSV report: Athena throttles, then runs', machineOf(csv),
    { RunQuery: [fails('Athena.TooManyRequestsException'), query('q-2')], CopyReport: [ok({})], NotifySuccess: [ok({})] }, (r) => {
      expect(r.status).toBe('SUCCEEDED');
      expect(r.taskInputs.RunQuery).toHaveLength(2);
    });
  add('CSV report: the copy keeps failing → NotifyFailure → Failed', machineOf(csv),
    { RunQuery: [query('q-3')], CopyReport: times(4, fails('S3.AccessDenied')), NotifyFailure: [ok({})] }, (r) => {
      expect(r.taskInputs.CopyReport).toHaveLength(4);
      expect(r.entered.slice(-2)).toEqual(['NotifyFailure', 'Failed']);
      expect(r.status).toBe('FAILED');
    });
  add('CSV report: the success notice cannot be sent → the run fails so it is seen', machineOf(csv),
    { RunQuery: [query('q-4')], CopyReport: [ok({})], NotifySuccess: times(4, fails('SNS.InternalError')) }, (r) => {
      expect(r.taskInputs.NotifySuccess).toHaveLength(4);
      expect(r.status).toBe('FAILED');
      expect(r.error).toBe('SNS.InternalError');
    });
  add('Parquet report: UNLOAD into the run\'s folder, notify', machineOf(parquet),
    { RunQuery: [query('q-5')], NotifySuccess: [ok({})] }, (r) => {
      expect(r.status).toBe('SUCCEEDED');
      expect(r.taskInputs.RunQuery[0].QueryString)
        .toBe(`UNLOAD (SELECT id FROM orders) TO '${parquet.reportsUrl.replace(/\$\{Token\[[^\]]+\]\}/, resultsBucket)}${runKey}/' WITH (format = 'PARQUET', compression = 'SNAPPY')`);
      expect(notified(r, 'NotifySuccess').report).toBe(`s3://${resultsBucket}/${serving.reportsPrefix}weekly/${runKey}/`);
    });
  add('Iceberg maintenance: OPTIMIZE then VACUUM, notify', machineOf(maintenance),
    { Optimize: [query('q-6')], Vacuum: [query('q-7')], NotifySuccess: [ok({})] }, (r) => {
      expect(r.status).toBe('SUCCEEDED');
      expect(r.entered).toEqual(['Prepare', 'Optimize', 'Vacuum', 'NotifySuccess']);
      expect(r.taskInputs.Vacuum[0].QueryString).toBe('VACUUM orders');
    });
  add('Iceberg maintenance: OPTIMIZE fails → NotifyFailure → Failed, VACUUM not run', machineOf(maintenance),
    { Optimize: [fails('States.TaskFailed', 'ICEBERG_COMMIT_ERROR')], NotifyFailure: [ok({})] }, (r) => {
      expect(r.entered).toEqual(['Prepare', 'Optimize', 'NotifyFailure', 'Failed']);
      expect(r.status).toBe('FAILED');
    });

  const results = runWorkflows(cases);
  test.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    expect(results[i].status).not.toBe('INVALID_DEFINITION');
    cases[i].check(results[i]);
  });
});

// ---- the runner applies AWS's rules where moto 5.2.1 does not ------------------------------------

describe('the runner: AWS behaviours this tier relies on', () => {
  const lambdaArn = 'arn:aws:lambda:us-east-1:123456789012:function:f';
  const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }];
  const machine = (first: Json) => JSON.stringify({ StartAt: 'First', States: { First: { ...first, End: true }, Caught: { Type: 'Pass', End: true } } });
  const schedule = JSON.stringify({ endpoint: 'orders', scheduledTime: SCHEDULED_TIME });
  const cases: WorkflowCase[] = [
    // Issue 12's bug in miniature: a Lambda payload path the schedule's input lacks.
    {
      name: 'lambda payload path missing',
      input: schedule,
      mocks: { First: [lambdaReturns({})] },
      definition: machine({ Type: 'Task', Resource: lambdaArn, Parameters: { 'windowStart.$': '$.windowStart' }, Catch: catchAll }),
    },
    {
      name: 'service parameter path missing',
      input: schedule,
      mocks: { First: [ok({})] },
      definition: machine({ Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Parameters: { 'Message.$': '$.windowStart' }, Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 3 }], Catch: catchAll }),
    },
    {
      name: 'glue job run failed',
      input: schedule,
      mocks: { First: [fails('States.TaskFailed'), ok({ JobRunState: 'SUCCEEDED' })] },
      definition: machine({ Type: 'Task', Resource: 'arn:aws:states:::glue:startJobRun.sync', Parameters: { JobName: 'j' }, Retry: [{ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 1, IntervalSeconds: 120 }] }),
    },
    {
      name: 'lambda error type',
      input: schedule,
      mocks: { First: [lambdaThrows('ApiPull.Transient', 'x')] },
      definition: machine({ Type: 'Task', Resource: lambdaArn, Catch: catchAll }),
    },
  ];
  const [lambdaPath, servicePath, glue, lambdaError] = runWorkflows(cases);

  test('a JSONPath missing from the input is States.Runtime, which neither Retry nor Catch on States.ALL handles', () => {
    for (const r of [lambdaPath, servicePath]) {
      expect(r.status).toBe('FAILED');
      expect(r.error).toBe('States.Runtime');
      expect(r.cause).toContain('$.windowStart');
      expect(r.entered).toEqual(['First']);
      expect(r.retryWaits).toEqual([]);
    }
  });

  test('a failed Glue job run (States.TaskFailed) is retried by a States.TaskFailed retrier, with its interval recorded, not slept', () => {
    expect(glue.status).toBe('SUCCEEDED');
    expect(glue.taskInputs.First).toHaveLength(2);
    expect(glue.retryWaits).toEqual([120]);
  });

  test('a Lambda handler\'s error is named after its errorType, and caught with Error/Cause', () => {
    expect(lambdaError.status).toBe('SUCCEEDED');
    expect(lambdaError.entered).toEqual(['First', 'Caught']);
    expect(lambdaError.output.error).toEqual({ Error: 'ApiPull.Transient', Cause: expect.stringContaining('ApiPull.Transient') });
  });

  test('CDK drops null values from a definition (why the old "Read input" defaults were {})', () => {
    const stack = new Stack();
    const pass = new sfn.Pass(stack, 'P', { parameters: { defaults: { windowStart: null }, kept: { windowStart: '' } } });
    new sfn.StateMachine(stack, 'M', { definitionBody: sfn.DefinitionBody.fromChainable(pass) });
    const template = Template.fromStack(stack).toJSON() as any;
    const definition = JSON.parse(Object.values(stateMachines(template))[0].definition);
    expect(definition.States.P.Parameters).toEqual({ defaults: {}, kept: { windowStart: '' } });
  });
});
