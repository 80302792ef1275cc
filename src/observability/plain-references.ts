import { ArnFormat, CfnResource, Reference, Stack, Token, Tokenization } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { IConstruct } from 'constructs';
import { stackScopedResourceName } from '../core/naming';

/**
 * How a resource type's references (`Ref`, `Fn::GetAtt`) follow from its physical name, so a
 * consumer in another stack can use a plain string instead of `Fn::ImportValue`.
 * Sources: the "Return values" section of each type in the CloudFormation resource reference.
 */
interface NamedType {
  /** The L1 property that holds the physical name. */
  readonly prop: string;
  /** The service's length limit for that name. */
  readonly maxLength: number;
  /** What `Ref` or `Fn::GetAtt` of `attribute` returns, from the name; undefined when it does not follow. */
  readonly value: (attribute: string, name: string, stack: Stack) => string | undefined;
}

const arn = (stack: Stack, service: string, resource: string, name: string, format: ArnFormat) =>
  stack.formatArn({ service, resource, resourceName: name, arnFormat: format });

const NAMED_TYPES: Record<string, NamedType> = {
  'AWS::Lambda::Function': {
    prop: 'functionName',
    maxLength: 64,
    value: (a, n, s) => a === 'Ref' ? n : a === 'Arn' ? arn(s, 'lambda', 'function', n, ArnFormat.COLON_RESOURCE_NAME) : undefined,
  },
  'AWS::SQS::Queue': {
    prop: 'queueName',
    maxLength: 80,
    value: (a, n, s) => a === 'QueueName' ? n : a === 'Arn' ? s.formatArn({ service: 'sqs', resource: n }) : undefined,
  },
  'AWS::KinesisFirehose::DeliveryStream': {
    prop: 'deliveryStreamName',
    maxLength: 64,
    value: (a, n, s) => a === 'Ref' ? n : a === 'Arn' ? arn(s, 'firehose', 'deliverystream', n, ArnFormat.SLASH_RESOURCE_NAME) : undefined,
  },
  'AWS::Kinesis::Stream': {
    prop: 'name',
    maxLength: 128,
    value: (a, n, s) => a === 'Ref' ? n : a === 'Arn' ? arn(s, 'kinesis', 'stream', n, ArnFormat.SLASH_RESOURCE_NAME) : undefined,
  },
  'AWS::StepFunctions::StateMachine': {
    prop: 'stateMachineName',
    maxLength: 80,
    value: (a, n, s) => a === 'Name' ? n : a === 'Ref' || a === 'Arn' ? arn(s, 'states', 'stateMachine', n, ArnFormat.COLON_RESOURCE_NAME) : undefined,
  },
  'AWS::Glue::Job': {
    prop: 'name',
    maxLength: 255,
    value: (a, n) => a === 'Ref' ? n : undefined,
  },
  'AWS::Logs::LogGroup': {
    prop: 'logGroupName',
    maxLength: 512,
    value: (a, n, s) => a === 'Ref' ? n : a === 'Arn' ? `${arn(s, 'logs', 'log-group', n, ArnFormat.COLON_RESOURCE_NAME)}:*` : undefined,
  },
  'AWS::CloudWatch::Alarm': {
    prop: 'alarmName',
    maxLength: 255,
    value: (a, n, s) => a === 'Ref' ? n : a === 'Arn' ? arn(s, 'cloudwatch', 'alarm', n, ArnFormat.COLON_RESOURCE_NAME) : undefined,
  },
  'AWS::DynamoDB::Table': {
    prop: 'tableName',
    maxLength: 255,
    value: (a, n, s) => a === 'Ref' ? n : a === 'Arn' ? arn(s, 'dynamodb', 'table', n, ArnFormat.SLASH_RESOURCE_NAME) : undefined,
  },
};

/**
 * Turns references to resources of other stacks (same account and region) into plain strings, so
 * the consuming stack imports nothing: `Ref`/`Fn::GetAtt` of a resource with a physical name become
 * that name or the ARN built from it. A resource without a name gets a deterministic one
 * (`stackScopedResourceName`): only when a consumer in another stack needs it, so a one-stack app
 * keeps generated names. A reference this cannot turn into a string (a name that is itself a token,
 * an attribute that does not follow from the name, such as a DMS replication config's ARN) is kept
 * as it is and becomes an export, as before; `unresolvable` lists those.
 */
export class PlainReferences {
  /** References that stay references (for messages and tests): `<path>.<attribute>`. */
  public readonly unresolvable: string[] = [];
  /** Resources this named, by path. */
  public readonly named = new Map<string, string>();
  /** The stacks whose resources were referred to by a plain string (the consumer must deploy after them). */
  public readonly producers = new Set<Stack>();

  constructor(private readonly consumer: IConstruct) {}

  /**
   * The value with every token that refers to another stack's named resource replaced by a plain string.
   * @param value a value that may be a token of another stack
   */
  public string(value: string): string {
    if (!Token.isUnresolved(value)) return value;
    let out = value;
    for (const token of Tokenization.reverseString(value).tokens) {
      const plain = this.plainOf(token);
      if (plain !== undefined) out = out.split(Token.asString(token)).join(plain);
    }
    return out;
  }

  /**
   * A metric whose dimensions (and, for math, the metrics it uses) carry plain strings.
   * @param metric a metric that may reference a resource of another stack
   */
  public metric(metric: cloudwatch.IMetric): cloudwatch.IMetric {
    if (metric instanceof cloudwatch.Metric) {
      const dims = metric.dimensions ?? {};
      const plain: Record<string, string> = {};
      let changed = false;
      for (const [k, v] of Object.entries(dims)) {
        plain[k] = typeof v === 'string' ? this.string(v) : v;
        changed = changed || plain[k] !== v;
      }
      return changed ? metric.with({ dimensionsMap: plain }) : metric;
    }
    if (metric instanceof cloudwatch.MathExpression) {
      const using: Record<string, cloudwatch.IMetric> = {};
      let changed = false;
      for (const [k, m] of Object.entries(metric.usingMetrics)) {
        using[k] = this.metric(m);
        changed = changed || using[k] !== m;
      }
      const expression = this.string(metric.expression);
      if (!changed && expression === metric.expression) return metric;
      return new cloudwatch.MathExpression({
        expression,
        usingMetrics: using,
        label: metric.label,
        color: metric.color,
        period: metric.period,
        searchAccount: metric.searchAccount,
        searchRegion: metric.searchRegion,
      });
    }
    return metric;
  }

  private plainOf(token: unknown): string | undefined {
    if (!Reference.isReference(token)) return undefined;
    const target = token.target;
    if (!CfnResource.isCfnResource(target)) return undefined;
    const here = Stack.of(this.consumer);
    const there = Stack.of(target);
    if (there === here) return undefined;
    // Only between stacks of one account and region (both concrete and equal, or both agnostic, as
    // aws-cdk-lib assumes too); across environments aws-cdk-lib already uses physical names.
    for (const field of ['account', 'region'] as const) {
      const a = Token.isUnresolved(here[field]);
      const b = Token.isUnresolved(there[field]);
      if (a !== b || (!a && here[field] !== there[field])) return undefined;
    }
    const type = NAMED_TYPES[target.cfnResourceType];
    const where = `${target.node.path}.${token.displayName}`;
    if (!type) {
      this.unresolvable.push(where);
      return undefined;
    }
    const l1 = target as unknown as Record<string, unknown>;
    let name = l1[type.prop];
    // aws-cdk-lib L2s set the name property to a token that renders nothing unless a name was given
    // (or another environment needs one): read what it renders.
    if (Token.isUnresolved(name)) {
      const rendered = there.resolve(name);
      if (rendered === undefined || typeof rendered === 'string') name = rendered;
    }
    if (name === undefined) {
      const fifo = target.cfnResourceType === 'AWS::SQS::Queue' && l1.fifoQueue === true;
      name = stackScopedResourceName(target, type.maxLength, fifo ? '.fifo' : '');
      l1[type.prop] = name;
      this.named.set(target.node.path, name as string);
    }
    if (typeof name !== 'string' || Token.isUnresolved(name)) {
      this.unresolvable.push(where);
      return undefined;
    }
    // The ARN is built in the consuming stack: same account and region, its own pseudo parameters.
    const value = type.value(token.displayName, name, here);
    if (value === undefined) this.unresolvable.push(where);
    else this.producers.add(there);
    return value;
  }
}
