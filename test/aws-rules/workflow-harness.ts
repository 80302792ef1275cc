/**
 * The workflow tier's plumbing: takes a state machine's definition and its triggers' inputs out of
 * a synthesized template (intrinsics resolved to concrete strings), and runs executions in moto's
 * ASL interpreter through `asl_runner.py` (one Python process per call, JSON in and out).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** The time EventBridge Scheduler puts in `<aws.scheduler.scheduled-time>` for the run under test. */
export const SCHEDULED_TIME = '2026-12-01T15:00:00Z';

type Template = { Resources: Record<string, { Type: string; Properties?: any }> };

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'Test',
};

/** What `Ref` returns for a resource type (CloudFormation's documented return values). */
function ref(template: Template, id: string): string {
  if (PSEUDO[id]) return PSEUDO[id];
  const resource = template.Resources[id];
  if (!resource) throw new Error(`Ref to unknown resource ${id}`);
  const name = resource.Properties?.Name ?? resource.Properties?.FunctionName ?? id.toLowerCase();
  switch (resource.Type) {
    case 'AWS::SNS::Topic': return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
    case 'AWS::StepFunctions::StateMachine': return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}`;
    case 'AWS::SQS::Queue': return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`;
    case 'AWS::KMS::Key': return `${id}-key-id`;
    default: return typeof name === 'string' ? name : id.toLowerCase();
  }
}

function getAtt(template: Template, id: string, attribute: string): string {
  const resource = template.Resources[id];
  if (!resource) throw new Error(`GetAtt of unknown resource ${id}`);
  if (attribute !== 'Arn') return `${id}.${attribute}`;
  switch (resource.Type) {
    case 'AWS::Lambda::Function': return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${ref(template, id)}`;
    case 'AWS::S3::Bucket': return `arn:aws:s3:::${ref(template, id)}`;
    case 'AWS::KMS::Key': return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
    case 'AWS::SQS::Queue': return `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`;
    case 'AWS::IAM::Role': return `arn:aws:iam::${ACCOUNT}:role/${id}`;
    default: return `arn:aws:${resource.Type.split('::')[1].toLowerCase()}:${REGION}:${ACCOUNT}:${id}`;
  }
}

/** Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Select and Fn::Split to the values a deployment would have. */
export function resolve(template: Template, value: any): any {
  if (Array.isArray(value)) return value.map((v) => resolve(template, v));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [key] = keys;
    const arg = value[key];
    switch (key) {
      case 'Ref': return ref(template, arg);
      case 'Fn::GetAtt': return getAtt(template, arg[0], arg[1]);
      case 'Fn::Join': return (resolve(template, arg[1]) as string[]).join(arg[0]);
      case 'Fn::Select': return resolve(template, arg[1])[Number(arg[0])];
      case 'Fn::Split': return (resolve(template, arg[1]) as string).split(arg[0]);
      default:
        if (key.startsWith('Fn::')) throw new Error(`intrinsic ${key} is not resolved by this harness`);
    }
  }
  return Object.fromEntries(keys.map((k) => [k, resolve(template, value[k])]));
}

/** The state machines of a template, by logical id, with their definitions as deployed (a JSON string). */
export function stateMachines(template: Template): Record<string, { arn: string; definition: string }> {
  const out: Record<string, { arn: string; definition: string }> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const props = resource.Properties;
    const definition = props.DefinitionString !== undefined
      ? resolve(template, props.DefinitionString)
      : JSON.stringify(resolve(template, props.Definition));
    out[id] = { arn: ref(template, id), definition };
  }
  return out;
}

/** A trigger of a state machine and the exact execution input it sends. */
export interface Trigger {
  readonly source: string;
  readonly stateMachineArn: string;
  readonly input: string;
}

/**
 * Each EventBridge Scheduler schedule that starts a state machine, with the input it sends: the
 * target's `Input` with the scheduler's context attributes filled in as the scheduler does
 * (`<aws.scheduler.scheduled-time>` etc.).
 */
export function scheduleTriggers(template: Template): Trigger[] {
  const out: Trigger[] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Scheduler::Schedule') continue;
    const target = resolve(template, resource.Properties.Target);
    if (!String(target.Arn).includes(':states:')) continue;
    const input = String(target.Input ?? '{}')
      .split('<aws.scheduler.scheduled-time>').join(SCHEDULED_TIME)
      .split('<aws.scheduler.schedule-arn>').join(`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/${id}`)
      .split('<aws.scheduler.execution-id>').join('00000000-0000-4000-8000-000000000000')
      .split('<aws.scheduler.attempt-number>').join('1');
    out.push({ source: `schedule ${id}`, stateMachineArn: target.Arn, input });
  }
  return out;
}

/** A stubbed response of a Task state's service call (AWS Step Functions Local's mocked-response format). */
export type Mocked = { Return: unknown } | { Throw: { Error: string; Cause?: string } };

export interface WorkflowCase {
  readonly name: string;
  readonly definition: string;
  readonly input: string;
  /** State name → the response of each attempt (first, then one per retry). */
  readonly mocks?: Record<string, Mocked[]>;
}

export interface WorkflowResult {
  readonly name: string;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'RUNNING' | 'INVALID_DEFINITION';
  readonly error?: string;
  readonly cause?: string;
  readonly output?: any;
  /** State names in the order they were entered (nested states included). */
  readonly entered: string[];
  /** State name → the parameters each attempt sent to the service. */
  readonly taskInputs: Record<string, any[]>;
  /** Seconds each retry would have waited. */
  readonly retryWaits: number[];
  readonly events: string[];
}

const ROOT = path.join(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const RUNNER = path.join(__dirname, 'asl_runner.py');

/** Runs every case in one Python process; the results come back in the order of the cases. */
export function runWorkflows(cases: WorkflowCase[]): WorkflowResult[] {
  // WF_DUMP_DIR=<dir> keeps each request, to time or debug the runner alone: `.venv/bin/python asl_runner.py < <file>`.
  if (process.env.WF_DUMP_DIR) fs.writeFileSync(path.join(process.env.WF_DUMP_DIR, `cases-${Date.now()}-${cases.length}.json`), JSON.stringify({ cases }));
  const out = spawnSync(PYTHON, [RUNNER], { input: JSON.stringify({ cases }), encoding: 'utf-8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (out.status !== 0) throw new Error(`asl_runner.py failed (${out.status}): ${out.stderr}`);
  return JSON.parse(out.stdout).results;
}
