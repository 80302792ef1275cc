/**
 * A synthesized multi-stack app as CloudFormation would see it once deployed: every stack's
 * template, the dependencies CDK wrote into the cloud assembly (the deploy order), and a resolver
 * that turns `Ref`, `Fn::GetAtt`, `Fn::ImportValue` (through the exporting stack's `Outputs`),
 * `Fn::Join`, `Fn::Select`, `Fn::Split` and `Fn::Sub` into the strings CloudFormation would pass.
 * Physical names are made up but consistent (`<stack>-<logicalid>`), so an ARN in one stack's
 * policy equals the ARN of the resource another stack created.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App } from 'aws-cdk-lib';

export const ACCOUNT = '111111111111';
export const REGION = 'eu-west-1';

type Json = any;

export class DeployedApp {
  /** Stack name → template. */
  public readonly templates: Record<string, Json> = {};
  /** Stack name → names of the stacks it directly depends on (deployed first). */
  public readonly dependencies: Record<string, string[]> = {};

  constructor(app: App) {
    const assembly = app.synth();
    for (const stack of assembly.stacks) {
      this.templates[stack.stackName] = stack.template;
      this.dependencies[stack.stackName] = stack.dependencies
        .map((d) => assembly.stacks.find((s) => s.id === d.id)?.stackName)
        .filter((n): n is string => n !== undefined);
    }
  }

  /** Whether `a` depends on `b`, directly or through other stacks. */
  public dependsOn(a: string, b: string, seen = new Set<string>()): boolean {
    if (seen.has(a)) return false;
    seen.add(a);
    return (this.dependencies[a] ?? []).some((d) => d === b || this.dependsOn(d, b, seen));
  }

  /** Resources of a type in every stack: `[stackName, logicalId, resource]`. */
  public resources(type: string): [string, string, Json][] {
    const out: [string, string, Json][] = [];
    for (const [stack, t] of Object.entries(this.templates)) {
      for (const [id, r] of Object.entries<Json>(t.Resources ?? {})) if (r.Type === type) out.push([stack, id, r]);
    }
    return out;
  }

  /** The made-up physical name of a resource (what `Ref` returns for most types). */
  public physicalName(stack: string, logicalId: string): string {
    const r = this.templates[stack]?.Resources?.[logicalId];
    if (!r) throw new Error(`${stack} has no resource ${logicalId}`);
    const p = r.Properties ?? {};
    const explicit = p.BucketName ?? p.RoleName ?? p.Name ?? p.TopicName ?? p.QueueName;
    if (typeof explicit === 'string') return explicit;
    return `${stack}-${logicalId}`.toLowerCase().slice(0, 63);
  }

  /** ARN of a resource of this app. */
  public arnOf(stack: string, logicalId: string): string {
    const r = this.templates[stack].Resources[logicalId];
    const name = this.physicalName(stack, logicalId);
    switch (r.Type) {
      case 'AWS::S3::Bucket': return `arn:aws:s3:::${name}`;
      case 'AWS::KMS::Key': return `arn:aws:kms:${REGION}:${ACCOUNT}:key/${name}`;
      case 'AWS::IAM::Role': return `arn:aws:iam::${ACCOUNT}:role/${name}`;
      case 'AWS::IAM::User': return `arn:aws:iam::${ACCOUNT}:user/${name}`;
      case 'AWS::SNS::Topic': return `arn:aws:sns:${REGION}:${ACCOUNT}:${name}`;
      case 'AWS::SQS::Queue': return `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
      case 'AWS::Lambda::Function': return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
      case 'AWS::StepFunctions::StateMachine': return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
      default: return `arn:aws:${r.Type.split('::')[1].toLowerCase()}:${REGION}:${ACCOUNT}:${name}`;
    }
  }

  /** What CloudFormation would pass for `value` in `stack`. */
  public resolve(stack: string, value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(stack, v));
    if (value === null || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [k] = keys;
      const v = value[k];
      switch (k) {
        case 'Ref': return this.ref(stack, v);
        case 'Fn::GetAtt': return this.getAtt(stack, v[0], v[1]);
        case 'Fn::Join': return (this.resolve(stack, v[1]) as string[]).join(v[0]);
        case 'Fn::Select': return this.resolve(stack, v[1])[Number(this.resolve(stack, v[0]))];
        case 'Fn::Split': return String(this.resolve(stack, v[1])).split(v[0]);
        case 'Fn::ImportValue': return this.importValue(String(this.resolve(stack, v)));
        case 'Fn::Sub': {
          const [text, vars] = Array.isArray(v) ? v : [v, {}];
          return String(text).replace(/\$\{([^}]+)\}/g, (_: string, name: string) => {
            if (vars[name] !== undefined) return this.resolve(stack, vars[name]);
            return name.includes('.') ? this.getAtt(stack, name.split('.')[0], name.split('.').slice(1).join('.')) : this.ref(stack, name);
          });
        }
        default: break;
      }
    }
    return Object.fromEntries(keys.map((k) => [k, this.resolve(stack, value[k])]));
  }

  /** The stack exporting `name`, and the resolved value. */
  public exportOf(name: string): { stack: string; value: Json } {
    for (const [stack, t] of Object.entries<Json>(this.templates)) {
      for (const out of Object.values<Json>(t.Outputs ?? {})) {
        if (out.Export && this.resolve(stack, out.Export.Name) === name) return { stack, value: this.resolve(stack, out.Value) };
      }
    }
    throw new Error(`no stack exports ${name}: Fn::ImportValue would fail`);
  }

  private importValue(name: string): Json {
    return this.exportOf(name).value;
  }

  private ref(stack: string, name: string): string {
    switch (name) {
      case 'AWS::Partition': return 'aws';
      case 'AWS::Region': return REGION;
      case 'AWS::AccountId': return ACCOUNT;
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return stack;
      default: break;
    }
    const r = this.templates[stack].Resources?.[name];
    if (!r) {
      const p = this.templates[stack].Parameters?.[name];
      if (p) return `param-${name}`;
      throw new Error(`${stack}: Ref to unknown ${name}`);
    }
    if (['AWS::SNS::Topic', 'AWS::SQS::Queue'].includes(r.Type)) return r.Type === 'AWS::SNS::Topic' ? this.arnOf(stack, name) : `https://sqs/${name}`;
    return this.physicalName(stack, name);
  }

  private getAtt(stack: string, logicalId: string, attribute: string): string {
    if (!this.templates[stack].Resources?.[logicalId]) throw new Error(`${stack}: GetAtt of unknown ${logicalId}`);
    switch (attribute) {
      case 'Arn': return this.arnOf(stack, logicalId);
      case 'GroupId': return `sg-${this.physicalName(stack, logicalId)}`;
      case 'KeyId': return this.physicalName(stack, logicalId);
      default: return `${this.physicalName(stack, logicalId)}.${attribute}`;
    }
  }
}

/** The outcome IAM's evaluation logic gives one request of a role, with the policies deployed. */
export async function simulate(deployed: DeployedApp, role: { stack: string; logicalId: string }, action: string, resource: string,
  resourcePolicy?: Json): Promise<string> {
  const roleName = deployed.physicalName(role.stack, role.logicalId);
  const roleResource = deployed.templates[role.stack].Resources[role.logicalId];
  const identityPolicies: { name: string; policy: Json }[] = [];
  for (const p of roleResource.Properties?.Policies ?? []) {
    identityPolicies.push({ name: p.PolicyName, policy: deployed.resolve(role.stack, p.PolicyDocument) });
  }
  // Every AWS::IAM::Policy of any stack attached to the role by name.
  for (const [stack, id, p] of deployed.resources('AWS::IAM::Policy')) {
    const roles: string[] = deployed.resolve(stack, p.Properties.Roles ?? []);
    if (roles.includes(roleName)) identityPolicies.push({ name: `${stack}/${id}`, policy: deployed.resolve(stack, p.Properties.PolicyDocument) });
  }
  const result = await runSimulation({
    request: {
      principal: deployed.arnOf(role.stack, role.logicalId),
      action,
      resource: { resource, accountId: ACCOUNT },
      contextVariables: { 'aws:SecureTransport': 'true' },
    },
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
  }, {});
  if (result.resultType === 'error') throw new Error(`iam-simulate rejected the request ${action} ${resource}: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}
