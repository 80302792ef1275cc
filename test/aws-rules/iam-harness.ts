/**
 * Access-path harness: turns a synthesized stack into plain IAM JSON (identity policies per role,
 * resource policies per key, topic, queue, bucket and function) and evaluates requests with
 * `@cloud-copilot/iam-simulate`, an offline implementation of AWS's policy evaluation logic
 * (identity AND resource policies, same-account and cross-account rules, KMS key-policy trust,
 * service principals allowed only by a resource policy).
 *
 * The template's intrinsics are resolved deterministically: a resource's physical name is its
 * explicit name property when it has one, its logical id otherwise; account 111111111111,
 * region eu-west-1, partition aws.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runSimulation, Simulation } from '@cloud-copilot/iam-simulate';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

export const ACCOUNT = '111111111111';
export const REGION = 'eu-west-1';
export const OTHER_ACCOUNT = '222222222222';
/** A role of another account, for the edges that must be denied. */
export const OTHER_ACCOUNT_ROLE = `arn:aws:iam::${OTHER_ACCOUNT}:role/intruder`;
/** A role of the same account that was given nothing, for the edges that must be denied. */
export const UNRELATED_ROLE = `arn:aws:iam::${ACCOUNT}:role/unrelated`;
export const ENV = { account: ACCOUNT, region: REGION };

/**
 * AWS managed policies the library attaches by ARN, with their documented JSON (AWS Managed
 * Policy Reference, default versions). A role with a managed policy not listed here cannot be
 * evaluated: the harness throws rather than guess.
 */
const AWS_MANAGED_POLICIES: Record<string, unknown> = {
  // https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaBasicExecutionRole.html (v1)
  'service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], Resource: '*' }],
  },
  // https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html (v3, 2024-01-05)
  'service-role/AWSLambdaVPCAccessExecutionRole': {
    Version: '2012-10-17',
    Statement: [{
      Sid: 'AWSLambdaVPCAccessExecutionPermissions',
      Effect: 'Allow',
      Action: [
        'logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents',
        'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
      ],
      Resource: '*',
    }],
  },
};

type Json = any;

/** Physical-name property of each resource type that has one. */
const NAME_PROPS: Record<string, string> = {
  'AWS::S3::Bucket': 'BucketName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::Logs::LogStream': 'LogStreamName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::Kinesis::Stream': 'Name',
  'AWS::KinesisFirehose::DeliveryStream': 'DeliveryStreamName',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
  'AWS::Glue::Job': 'Name',
  'AWS::Glue::SecurityConfiguration': 'Name',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::CloudWatch::CompositeAlarm': 'AlarmName',
  'AWS::Events::Rule': 'Name',
  'AWS::CloudTrail::Trail': 'TrailName',
  'AWS::Scheduler::Schedule': 'Name',
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::Athena::WorkGroup': 'Name',
  'AWS::DMS::ReplicationConfig': 'ReplicationConfigIdentifier',
  'AWS::DMS::ReplicationTask': 'ReplicationTaskIdentifier',
};

/** Resource types whose `Ref` is their ARN (CloudFormation return values). */
const REF_IS_ARN = new Set([
  'AWS::SNS::Topic', 'AWS::StepFunctions::StateMachine', 'AWS::SecretsManager::Secret', 'AWS::DMS::Endpoint',
  'AWS::DMS::ReplicationInstance', 'AWS::DMS::ReplicationTask', 'AWS::IAM::ManagedPolicy',
]);

export interface Principal {
  /** The ARN (role) or service principal (`cloudwatch.amazonaws.com`) making the request. */
  readonly arn: string;
  /** Identity policies (empty for a service principal). */
  readonly identityPolicies: { name: string; policy: Json }[];
}

export class StackPolicies {
  public readonly template: Json;
  private readonly resources: Record<string, Json>;

  constructor(public readonly stack: Stack) {
    this.template = Template.fromStack(stack).toJSON();
    this.resources = this.template.Resources ?? {};
  }

  /** Concrete value of a CDK token (or any template fragment). */
  public value(token: unknown): Json {
    return this.resolve(this.stack.resolve(token));
  }

  /** Concrete string of a CDK token. */
  public str(token: unknown): string {
    const v = this.value(token);
    if (typeof v !== 'string') throw new Error(`not a string: ${JSON.stringify(v)}`);
    return v;
  }

  public resolve(v: Json): Json {
    if (Array.isArray(v)) return v.map((x) => this.resolve(x));
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = v[k];
      switch (k) {
        case 'Ref': return this.ref(arg);
        case 'Fn::GetAtt': return this.getAtt(arg[0], arg[1]);
        case 'Fn::Join': return (this.resolve(arg[1]) as unknown[]).map((x) => String(x)).join(arg[0]);
        case 'Fn::Select': return this.resolve(arg[1])[Number(this.resolve(arg[0]))];
        case 'Fn::Split': return String(this.resolve(arg[1])).split(arg[0]);
        case 'Fn::GetAZs': return [`${REGION}a`, `${REGION}b`, `${REGION}c`];
        case 'Fn::ImportValue': return `imported-${this.resolve(arg)}`;
        case 'Fn::Sub': return this.sub(arg);
        case 'Fn::If': throw new Error(`Fn::If is not resolved by the harness: ${JSON.stringify(v)}`);
        default: break;
      }
    }
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = this.resolve(x);
    return out;
  }

  private sub(arg: Json): string {
    const [text, vars] = typeof arg === 'string' ? [arg, {}] : [arg[0], arg[1] ?? {}];
    return text.replace(/\$\{([^}]+)\}/g, (_: string, name: string) => {
      if (name in vars) return String(this.resolve(vars[name]));
      if (name.includes('.')) {
        const [id, attr] = name.split('.', 2);
        return String(this.getAtt(id, attr));
      }
      return String(this.ref(name));
    });
  }

  private pseudo(name: string): string | undefined {
    switch (name) {
      case 'AWS::AccountId': return ACCOUNT;
      case 'AWS::Region': return REGION;
      case 'AWS::Partition': return 'aws';
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return this.stack.stackName;
      case 'AWS::StackId': return `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${this.stack.stackName}/id`;
      case 'AWS::NoValue': return undefined;
      default: return undefined;
    }
  }

  /** The physical name of a resource: its explicit name property, else its logical id. */
  public physicalName(logicalId: string): string {
    const r = this.resources[logicalId];
    if (!r) throw new Error(`no resource ${logicalId} in ${this.stack.stackName}`);
    const prop = NAME_PROPS[r.Type];
    const given = prop ? r.Properties?.[prop] : undefined;
    if (given !== undefined) return String(this.resolve(given));
    return r.Type === 'AWS::S3::Bucket' ? logicalId.toLowerCase() : logicalId;
  }

  private ref(id: string): Json {
    if (id.startsWith('AWS::')) return this.pseudo(id);
    const r = this.resources[id];
    if (!r) {
      const p = this.template.Parameters?.[id];
      if (p) return p.Default ?? `param-${id}`;
      throw new Error(`Ref to unknown ${id}`);
    }
    if (REF_IS_ARN.has(r.Type)) return this.arnOf(id);
    if (r.Type === 'AWS::SQS::Queue') return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${this.physicalName(id)}`;
    return this.physicalName(id);
  }

  private getAtt(id: string, attr: string): Json {
    const r = this.resources[id];
    if (!r) throw new Error(`GetAtt of unknown ${id}`);
    const name = this.physicalName(id);
    if (attr === 'Arn' || attr.endsWith('Arn')) {
      if (r.Type === 'AWS::DynamoDB::Table' && attr === 'StreamArn') return `${this.arnOf(id)}/stream/1970-01-01T00:00:00.000`;
      return this.arnOf(id);
    }
    switch (attr) {
      case 'QueueName': case 'TopicName': case 'Name': case 'KeyId': return name;
      case 'QueueUrl': return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
      case 'GroupId': return `sg-${id.toLowerCase()}`;
      case 'RoleId': return `AROA${id.toUpperCase()}`;
      case 'RegionalDomainName': return `${name}.s3.${REGION}.amazonaws.com`;
      case 'DomainName': return `${name}.s3.amazonaws.com`;
      default: return `${id}.${attr}`;
    }
  }

  /** ARN of a resource of the template, by logical id. */
  public arnOf(id: string): string {
    const r = this.resources[id];
    const n = this.physicalName(id);
    const ra = `${REGION}:${ACCOUNT}`;
    switch (r.Type) {
      case 'AWS::S3::Bucket': return `arn:aws:s3:::${n}`;
      case 'AWS::IAM::Role': return `arn:aws:iam::${ACCOUNT}:role/${n}`;
      case 'AWS::IAM::ManagedPolicy': return `arn:aws:iam::${ACCOUNT}:policy/${n}`;
      case 'AWS::KMS::Key': return `arn:aws:kms:${ra}:key/${n}`;
      case 'AWS::SQS::Queue': return `arn:aws:sqs:${ra}:${n}`;
      case 'AWS::SNS::Topic': return `arn:aws:sns:${ra}:${n}`;
      case 'AWS::Logs::LogGroup': return `arn:aws:logs:${ra}:log-group:${n}:*`;
      case 'AWS::Lambda::Function': return `arn:aws:lambda:${ra}:function:${n}`;
      case 'AWS::DynamoDB::Table': return `arn:aws:dynamodb:${ra}:table/${n}`;
      case 'AWS::Kinesis::Stream': return `arn:aws:kinesis:${ra}:stream/${n}`;
      case 'AWS::KinesisFirehose::DeliveryStream': return `arn:aws:firehose:${ra}:deliverystream/${n}`;
      case 'AWS::StepFunctions::StateMachine': return `arn:aws:states:${ra}:stateMachine:${n}`;
      case 'AWS::SecretsManager::Secret': return `arn:aws:secretsmanager:${ra}:secret:${n}-AbCdEf`;
      case 'AWS::CloudWatch::Alarm': case 'AWS::CloudWatch::CompositeAlarm': return `arn:aws:cloudwatch:${ra}:alarm:${n}`;
      case 'AWS::Events::Rule': return `arn:aws:events:${ra}:rule/${n}`;
      case 'AWS::CloudTrail::Trail': return `arn:aws:cloudtrail:${ra}:trail/${n}`;
      case 'AWS::Scheduler::Schedule': return `arn:aws:scheduler:${ra}:schedule/default/${n}`;
      case 'AWS::DMS::ReplicationConfig': return `arn:aws:dms:${ra}:replication-config:${n}`;
      case 'AWS::DMS::ReplicationTask': return `arn:aws:dms:${ra}:task:${n}`;
      case 'AWS::DMS::ReplicationInstance': return `arn:aws:dms:${ra}:rep:${n}`;
      case 'AWS::DMS::Endpoint': return `arn:aws:dms:${ra}:endpoint:${n}`;
      case 'AWS::Glue::Job': return `arn:aws:glue:${ra}:job/${n}`;
      case 'AWS::Athena::WorkGroup': return `arn:aws:athena:${ra}:workgroup/${n}`;
      default: return `arn:aws:${r.Type.split('::')[1].toLowerCase()}:${ra}:${n}`;
    }
  }

  /** Logical ids of the resources of one type. */
  public ofType(type: string): string[] {
    return Object.keys(this.resources).filter((id) => this.resources[id].Type === type);
  }

  // ---- identity policies ---------------------------------------------------------------------

  /** Logical id of the role with this ARN. */
  private roleIdOf(arn: string): string | undefined {
    return this.ofType('AWS::IAM::Role').find((id) => this.arnOf(id) === arn);
  }

  /** The principal of a role (its ARN as a token or string), with every policy attached to it. */
  public role(roleArn: unknown): Principal {
    const arn = typeof roleArn === 'string' && !roleArn.includes('${Token') ? roleArn : this.str(roleArn);
    const id = this.roleIdOf(arn);
    if (!id) throw new Error(`no role ${arn} in the stack`);
    const role = this.resources[id];
    const name = this.physicalName(id);
    const policies: { name: string; policy: Json }[] = [];
    for (const [i, p] of (role.Properties?.Policies ?? []).entries()) {
      policies.push({ name: `${id}-inline-${i}`, policy: this.resolve(p.PolicyDocument) });
    }
    for (const m of role.Properties?.ManagedPolicyArns ?? []) {
      const marn = String(this.resolve(m));
      const aws = /^arn:aws:iam::aws:policy\/(.+)$/.exec(marn);
      if (aws) {
        const doc = AWS_MANAGED_POLICIES[aws[1]];
        if (!doc) throw new Error(`role ${id} has AWS managed policy ${aws[1]}, whose JSON the harness does not carry: add it from the AWS Managed Policy Reference`);
        policies.push({ name: aws[1].replace(/\W/g, '-'), policy: doc });
        continue;
      }
      const mid = this.ofType('AWS::IAM::ManagedPolicy').find((x) => this.arnOf(x) === marn);
      if (!mid) throw new Error(`role ${id} has managed policy ${marn} the harness cannot find`);
      policies.push({ name: mid, policy: this.resolve(this.resources[mid].Properties.PolicyDocument) });
    }
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
      for (const pid of this.ofType(type)) {
        const roles = (this.resources[pid].Properties.Roles ?? []).map((x: Json) => String(this.resolve(x)));
        if (roles.includes(name)) policies.push({ name: pid, policy: this.resolve(this.resources[pid].Properties.PolicyDocument) });
      }
    }
    return { arn, identityPolicies: policies };
  }

  /** The trust policy of a role. */
  public trustPolicy(roleArn: unknown): Json {
    const id = this.roleIdOf(this.str(roleArn));
    if (!id) throw new Error('no such role');
    return this.resolve(this.resources[id].Properties.AssumeRolePolicyDocument);
  }

  // ---- resource policies ---------------------------------------------------------------------

  /** The resource policy that governs a resource ARN, or undefined when it has none. */
  public resourcePolicy(resourceArn: string): Json | undefined {
    const [, , service] = resourceArn.split(':');
    switch (service) {
      case 'kms': {
        const id = this.ofType('AWS::KMS::Key').find((k) => this.arnOf(k) === resourceArn);
        if (!id) throw new Error(`key ${resourceArn} is not in the stack: its key policy is unknown`);
        return this.resolve(this.resources[id].Properties.KeyPolicy);
      }
      case 'sqs': {
        const id = this.ofType('AWS::SQS::Queue').find((q) => this.arnOf(q) === resourceArn);
        if (!id) throw new Error(`queue ${resourceArn} is not in the stack`);
        const url = this.ref(id);
        return this.merged('AWS::SQS::QueuePolicy', 'Queues', url);
      }
      case 'sns': {
        const id = this.ofType('AWS::SNS::Topic').find((t) => this.arnOf(t) === resourceArn);
        if (!id) throw new Error(`topic ${resourceArn} is not in the stack`);
        return this.merged('AWS::SNS::TopicPolicy', 'Topics', resourceArn);
      }
      case 's3': {
        const bucket = resourceArn.split(':::')[1].split('/')[0];
        const ids = this.ofType('AWS::S3::BucketPolicy').filter((p) => this.resolve(this.resources[p].Properties.Bucket) === bucket);
        if (ids.length === 0) return undefined;
        return this.resolve(this.resources[ids[0]].Properties.PolicyDocument);
      }
      case 'lambda': {
        const statements = this.ofType('AWS::Lambda::Permission')
          .map((p) => this.resolve(this.resources[p].Properties))
          .filter((p) => p.FunctionName === resourceArn || `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${p.FunctionName}` === resourceArn)
          .map((p) => ({
            Effect: 'Allow',
            Principal: p.Principal.endsWith('.amazonaws.com') ? { Service: p.Principal } : { AWS: p.Principal },
            Action: p.Action,
            Resource: resourceArn,
            ...(p.SourceArn || p.SourceAccount ? {
              Condition: {
                ...(p.SourceArn ? { ArnLike: { 'aws:SourceArn': p.SourceArn } } : {}),
                ...(p.SourceAccount ? { StringEquals: { 'aws:SourceAccount': p.SourceAccount } } : {}),
              },
            } : {}),
          }));
        return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
      }
      default: return undefined;
    }
  }

  private merged(type: string, listProp: string, target: string): Json | undefined {
    const statements: Json[] = [];
    for (const id of this.ofType(type)) {
      const props = this.resolve(this.resources[id].Properties);
      if ((props[listProp] as string[]).includes(target)) statements.push(...props.PolicyDocument.Statement);
    }
    return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
  }
}

// ---- edges ---------------------------------------------------------------------------------

/** One access a data path needs (or must not have). */
export interface Edge {
  /** Short name of the test. */
  readonly name: string;
  /** Role ARN, or a service principal such as `cloudwatch.amazonaws.com`, or a foreign ARN. */
  readonly who: string;
  readonly action: string;
  /** The exact resource ARN of the request. */
  readonly resource: string;
  /** Request context (aws:SecureTransport is 'true' unless given). */
  readonly context?: Record<string, string | string[]>;
  readonly expect: 'allow' | 'deny';
  /** Why the data path needs it (or why it must be denied). */
  readonly why: string;
  /** A resource policy to use instead of the one in the stack (e.g. an imported key's). */
  readonly resourcePolicy?: Json;
}

export interface EdgeResult {
  readonly result: string;
  readonly detail: string;
}

/** Evaluates one edge against the stack's identity and resource policies. */
export async function evaluate(p: StackPolicies, edge: Edge): Promise<EdgeResult> {
  const service = /^[a-z0-9.-]+\.amazonaws\.com$/.test(edge.who);
  let identityPolicies: { name: string; policy: Json }[] = [];
  if (!service && edge.who.startsWith(`arn:aws:iam::${ACCOUNT}:role/`) && edge.who !== UNRELATED_ROLE) {
    identityPolicies = p.role(edge.who).identityPolicies;
  }
  const resourcePolicy = edge.resourcePolicy ?? p.resourcePolicy(edge.resource);
  const resourceAccount = edge.resource.split(':')[4] || ACCOUNT;
  const context: Record<string, string | string[]> = {
    'aws:SecureTransport': 'true',
    ...(service ? {} : {
      'aws:PrincipalArn': edge.who,
      'aws:PrincipalAccount': edge.who.split(':')[4],
    }),
    ...edge.context,
  };
  const simulation: Simulation = {
    request: {
      principal: edge.who,
      action: edge.action,
      resource: { resource: edge.resource, accountId: resourceAccount },
      contextVariables: context,
    },
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
  };
  // The validated run checks the action, the resource ARN against the action's resource types,
  // the policies' grammar, and which context keys the action takes.
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') {
    throw new Error(`simulation of "${edge.name}" did not run: ${JSON.stringify(response.errors)}`);
  }
  let result: string = response.overallResult;
  const ignored = response.resultType === 'single' ? response.result.ignoredContextKeys ?? [] : [];
  // A context key the simulator drops would make conditions on it fail silently (and a denial
  // pass for the wrong reason): only KMS encryption-context keys, whose `kms:EncryptionContext:
  // ${key}` pattern iam-simulate 0.1.x does not match when the key has colons, are let through,
  // by evaluating them with the same engine without its context-key filter.
  const unexpected = ignored.filter((k) => !/^kms:EncryptionContext:/i.test(k));
  if (unexpected.length > 0) {
    throw new Error(`"${edge.name}": context keys ${unexpected.join(', ')} are not ones AWS sends with ${edge.action}; fix the edge`);
  }
  if (ignored.length > 0) {
    result = authorizeUnfiltered(simulation);
  }
  const detail = JSON.stringify({
    who: edge.who,
    action: edge.action,
    resource: edge.resource,
    context,
    identityPolicies: identityPolicies.map((x) => x.name),
    resourcePolicy: resourcePolicy ? 'present' : 'none',
  });
  return { result, detail };
}

// iam-simulate's own engine, reached by file because its package exports only the validated entry point.
// Its `runUnsafeSimulation` (0.1.173) loads the resource policy without a name and throws; this
// is the same call with the name given.
const simulateDist = path.dirname(require.resolve('@cloud-copilot/iam-simulate'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const engine = require(path.join(simulateDist, 'core_engine', 'CoreSimulatorEngine.js'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AwsRequestImpl } = require(path.join(simulateDist, 'request', 'request.js'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RequestContextImpl } = require(path.join(simulateDist, 'requestContext.js'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { loadPolicy } = require(require.resolve('@cloud-copilot/iam-policy', { paths: [simulateDist] }));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DiscoveryContextKeyConstraints } = require(path.join(simulateDist, 'context_keys', 'discoveryContextKeyConstraints.js'));

function authorizeUnfiltered(sim: Simulation): string {
  const context = new RequestContextImpl(sim.request.contextVariables);
  const request = new AwsRequestImpl(sim.request.principal, sim.request.resource, sim.request.action, context);
  const analysis = engine.authorize({
    request,
    sessionPolicy: undefined,
    identityPolicies: sim.identityPolicies.map((x) => loadPolicy(x.policy, { name: x.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: sim.resourcePolicy ? loadPolicy(sim.resourcePolicy, { name: 'resource-policy' }) : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: { simulationMode: 'Strict', discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]) },
    serviceSettings: { s3: {} },
  });
  return analysis.result;
}

/** Asserts an edge evaluates as expected (jest), with the request in the failure message. */
export async function expectEdge(p: StackPolicies, edge: Edge): Promise<void> {
  const { result, detail } = await evaluate(p, edge);
  // ACCESS_PATH_LOG=<file>: lists every edge evaluated (test file, expectation, result, name),
  // e.g. to count the edges per construct.
  if (process.env.ACCESS_PATH_LOG) {
    const file = path.basename(expect.getState().testPath ?? '');
    fs.appendFileSync(process.env.ACCESS_PATH_LOG, `${file}\t${edge.expect}\t${result}\t${edge.name}\n`);
  }
  const allowed = result === 'Allowed';
  if (allowed !== (edge.expect === 'allow')) {
    throw new Error(`${edge.name}: expected ${edge.expect}, AWS's rules give ${result}\nwhy it matters: ${edge.why}\nrequest: ${detail}`);
  }
}

/** The S3 object ARN of a Glue job's script (its `Command.ScriptLocation`). */
export function scriptObjectArn(p: StackPolicies, job: { command: unknown }): string {
  const url = String(p.value((job.command as { scriptLocation: string }).scriptLocation));
  return `arn:aws:s3:::${url.replace(/^s3:\/\//, '')}`;
}

// ---- request contexts AWS services send ------------------------------------------------------

/** KMS context of a call S3 makes for a principal (SSE-KMS with an S3 Bucket Key: context is the bucket ARN). */
export function viaS3(bucketArn: string, principalAccount = ACCOUNT): Record<string, string> {
  return { 'kms:ViaService': `s3.${REGION}.amazonaws.com`, 'kms:CallerAccount': principalAccount, 'kms:EncryptionContext:aws:s3:arn': bucketArn };
}
/** KMS context of a call SQS makes for a sender or receiver of an SSE-KMS queue. */
export function viaSqs(queueArn: string): Record<string, string> {
  return { 'kms:ViaService': `sqs.${REGION}.amazonaws.com`, 'kms:CallerAccount': ACCOUNT, 'kms:EncryptionContext:aws:sqs:arn': queueArn };
}
/** KMS context of a call SNS makes for a publisher of an SSE topic. */
export function viaSns(topicArn: string): Record<string, string> {
  return { 'kms:ViaService': `sns.${REGION}.amazonaws.com`, 'kms:CallerAccount': ACCOUNT, 'kms:EncryptionContext:aws:sns:topicArn': topicArn };
}
/** KMS context of a call DynamoDB makes for a principal (customer managed table key). */
export function viaDynamoDb(tableName: string): Record<string, string> {
  return {
    'kms:ViaService': `dynamodb.${REGION}.amazonaws.com`,
    'kms:CallerAccount': ACCOUNT,
    'kms:EncryptionContext:aws:dynamodb:tableName': tableName,
    'kms:EncryptionContext:aws:dynamodb:subscriberId': ACCOUNT,
  };
}
/** KMS context of a call Kinesis Data Streams makes for a producer or consumer. */
export function viaKinesis(streamArn: string): Record<string, string> {
  return { 'kms:ViaService': `kinesis.${REGION}.amazonaws.com`, 'kms:CallerAccount': ACCOUNT, 'kms:EncryptionContext:aws:kinesis:arn': streamArn };
}
/** KMS context of CloudWatch Logs encrypting a log group's events (it calls as its own service principal). */
export function logsContext(logGroupArn: string): Record<string, string> {
  return { 'kms:EncryptionContext:aws:logs:arn': logGroupArn.replace(/:\*$/, ''), 'aws:SourceAccount': ACCOUNT };
}
/** Context of a service principal acting for a resource of this account (alarm, rule, trail...). */
export function fromSource(sourceArn: string): Record<string, string> {
  return { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': ACCOUNT };
}
