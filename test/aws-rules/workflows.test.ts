/**
 * Workflow tier: every state machine the library makes is executed in moto's ASL interpreter with
 * exactly the input its trigger sends (each Scheduler target's input from the synthesized template,
 * each integ test's startExecution input from the synthesized assertion stack), through the success
 * path and every Catch path; only the service calls are stubbed (AWS Step Functions Local's
 * mocked-response format). See docs/testing-workflows.md.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
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
  const template = Template.fromStack(stack).toJSON();
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
