import { createHash } from 'crypto';
import { Stack, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { propError } from './validation';

/**
 * What a service accepts as a physical name: the sanitizers below build names that match, and the
 * deploy rules check every claimed name against them.
 *
 * Sources (checked 2026-12-01):
 * - Glue database / table names: "must not be less than 1 or more than 255 bytes long" and lower
 *   case for Athena (Athena guide, "Name databases, tables, and columns").
 * - Athena workgroup `Name`: pattern `[a-zA-Z0-9._-]{1,128}` (CloudFormation AWS::Athena::WorkGroup).
 * - IAM `RoleName`: 1-64 characters, pattern `[\w+=,.@-]+`, unique per account, case-insensitive
 *   (IAM API reference, CreateRole / PolicyRole).
 * - CloudWatch dashboard name: "maximum length is 255, valid characters are A-Z, a-z, 0-9, - and _";
 *   dashboards are global to the account (CloudWatch PutDashboard).
 * - CloudWatch Logs log group name: 1-512 characters of `[.\-_/#A-Za-z0-9]` (CloudWatch Logs CreateLogGroup).
 */
export interface NameRule {
  /** What the name is, for messages. */
  readonly what: string;
  readonly maxLength: number;
  /** The whole name must match. */
  readonly pattern: RegExp;
  /** Characters outside this class are replaced by the separator. */
  readonly allowed: RegExp;
  readonly separator: string;
  /** Lowercase the name (Glue, Athena). */
  readonly lowercase: boolean;
  /** Prepended when the name does not start with a letter (or digit, where the rule allows it). */
  readonly startPrefix: string;
  /** The first character must match this. */
  readonly start: RegExp;
}

export const GLUE_NAME_RULE: NameRule = {
  what: 'Glue/Athena name', maxLength: 255, pattern: /^[a-z][a-z0-9_]*$/, allowed: /[^a-z0-9_]+/g, separator: '_', lowercase: true, startPrefix: 't_', start: /^[a-z]/,
};
export const ATHENA_WORKGROUP_RULE: NameRule = {
  what: 'Athena workgroup name', maxLength: 128, pattern: /^[a-zA-Z0-9._-]{1,128}$/, allowed: /[^a-zA-Z0-9._-]+/g, separator: '-', lowercase: false, startPrefix: 'wg-', start: /^[a-zA-Z0-9]/,
};
export const IAM_ROLE_RULE: NameRule = {
  what: 'IAM role name', maxLength: 64, pattern: /^[\w+=,.@-]{1,64}$/, allowed: /[^\w+=,.@-]+/g, separator: '-', lowercase: false, startPrefix: 'r-', start: /^[\w+=,.@-]/,
};
export const DASHBOARD_RULE: NameRule = {
  what: 'CloudWatch dashboard name', maxLength: 255, pattern: /^[A-Za-z0-9_-]{1,255}$/, allowed: /[^A-Za-z0-9_-]+/g, separator: '-', lowercase: false, startPrefix: 'd-', start: /^[A-Za-z0-9_-]/,
};
export const LOG_GROUP_RULE: NameRule = {
  what: 'CloudWatch Logs log group name', maxLength: 512, pattern: /^[.\-_/#A-Za-z0-9]{1,512}$/, allowed: /[^.\-_/#A-Za-z0-9]+/g, separator: '-', lowercase: false, startPrefix: 'lg-', start: /^[.\-_/#A-Za-z0-9]/,
};
/**
 * The one rule of a pipeline's name (`pipelineName` of every ingestion): 1-63 lowercase letters,
 * digits, `-` and `_`, starting with a letter. The name flows into S3 prefixes, Glue job and
 * connection names (1-255 of letters, digits, `-`, `_`, `.`), EventBridge Scheduler names
 * (1-64 of `[0-9a-zA-Z-_.]`, built with a unique suffix), Step Functions and log group names,
 * CloudWatch dimension values (1-1024 characters), Powertools service names, and, with `-` mapped
 * to `_` (`pipelineIdentifier`), Glue/Athena table names and PostgreSQL identifiers such as
 * replication slot and publication names (lowercase letters, digits and `_`, at most 63 bytes:
 * PostgreSQL's NAMEDATALEN - 1).
 */
export const PIPELINE_NAME_RULE: NameRule = {
  what: 'pipeline name', maxLength: 63, pattern: /^[a-z][a-z0-9_-]*$/, allowed: /[^a-z0-9_-]+/g, separator: '-', lowercase: true, startPrefix: 'p-', start: /^[a-z]/,
};

/**
 * The default pipeline name: the last part of the construct's path, its id, in kebab-case
 * (`ShopApi` → `shop-api`), cut to 63 characters with a hash (see `sanitizeName`). Neither the
 * parents nor the stack are part of it, so moving the construct under another parent or into
 * another stack keeps its raw prefix and its metrics (test/physical-names.test.ts).
 */
export function defaultPipelineName(scope: IConstruct): string {
  return sanitizeName(PIPELINE_NAME_RULE, [scope.node.id]);
}

/** Refuses a pipeline name `PIPELINE_NAME_RULE` does not accept, naming the prop and a fix. */
export function validatePipelineName(construct: string, name: string, prop = 'pipelineName'): void {
  if (Token.isUnresolved(name)) return;
  if (!isValidName(PIPELINE_NAME_RULE, name)) {
    const suggestion = sanitizeName(PIPELINE_NAME_RULE, [name || 'pipeline']);
    throw propError(construct, prop, `"${name}" is not a valid pipeline name (1-63 lowercase letters, digits, "-" and "_", starting with a letter)`,
      `use a name such as "${suggestion}"`);
  }
}

/** The pipeline name where `-` is not allowed (Glue/Athena table names, PostgreSQL slot and publication names): `-` becomes `_`. */
export function pipelineIdentifier(name: string): string {
  return name.replace(/-/g, '_');
}

/** True when `name` is a name `rule` accepts. */
export function isValidName(rule: NameRule, name: string): boolean {
  return name.length >= 1 && name.length <= rule.maxLength && rule.pattern.test(name);
}

const HASH_LENGTH = 8;

/**
 * Builds a name `rule` accepts from free-form parts (construct ids, stack names): CamelCase becomes
 * snake/kebab, forbidden characters become the separator, and a name longer than the limit is cut
 * and ends with a hash of the full input, so two long inputs that differ only past the cut still
 * give two names. The same parts always give the same name.
 */
export function sanitizeName(rule: NameRule, parts: string[]): string {
  const sep = rule.separator;
  const escaped = sep.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  const clean = (part: string) => {
    let p = part.replace(/([a-z0-9])([A-Z])/g, `$1${sep}$2`);
    if (rule.lowercase) p = p.toLowerCase();
    return p.replace(rule.allowed, sep).replace(new RegExp(`${escaped}{2,}`, 'g'), sep).replace(new RegExp(`^${escaped}+|${escaped}+$`, 'g'), '');
  };
  let name = parts.map(clean).filter((p) => p.length > 0).join(sep);
  if (!rule.start.test(name)) name = `${rule.startPrefix}${name}`;
  if (name.length > rule.maxLength) {
    const hash = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, HASH_LENGTH);
    name = `${name.slice(0, rule.maxLength - HASH_LENGTH - sep.length)}${sep}${hash}`;
  }
  // A name of only a prefix (empty input) still has to be valid: drop a trailing separator.
  name = name.replace(new RegExp(`${escaped}+$`), '');
  return name;
}

/**
 * The default name of something that must be unique per account and region (Glue databases...):
 * the stack name (unique there, and carrying the stage prefix, `Dev-Lake`; CloudFormation stack
 * names are never tokens) followed by the construct id.
 */
export function stackScopedName(rule: NameRule, scope: IConstruct, id: string): string {
  return sanitizeName(rule, [Stack.of(scope).stackName, id]);
}

/**
 * Names of resources another stack refers to by a plain string (Lambda functions, SQS queues,
 * Firehose streams, state machines, log groups, alarms, EventBridge rules...): letters, digits,
 * `_` and `-`, which every one of these services accepts. The tightest limits (checked 2026-12-01):
 * Lambda `FunctionName` and Firehose `DeliveryStreamName` 64, EventBridge rule `Name` 64, SQS
 * `QueueName` 80 (a FIFO queue's ends with `.fifo`), Step Functions `StateMachineName` 80.
 */
export const RESOURCE_NAME_RULE: NameRule = {
  what: 'resource name', maxLength: 64, pattern: /^[A-Za-z0-9_-]{1,64}$/, allowed: /[^A-Za-z0-9_-]+/g, separator: '-', lowercase: false, startPrefix: 'r-', start: /^[A-Za-z0-9]/,
};

/**
 * A deterministic physical name for a resource of a stack, unique per account and region: the
 * stack name (unique there, carrying the stage: `Dev-Clicks`), the construct's path inside its stack
 * (without a trailing `Resource`/`Default`), and 8 hex characters of a hash of that path, so two paths
 * that sanitize alike (`A/B`, `AB`) still get two names. Cut to `maxLength` with a hash of the whole
 * input (see `sanitizeName`); `suffix` (e.g. `.fifo`) is kept whole at the end.
 */
export function stackScopedResourceName(construct: IConstruct, maxLength: number, suffix = ''): string {
  const stack = Stack.of(construct);
  const parts = construct.node.scopes.slice(stack.node.scopes.length).map((c) => c.node.id);
  if (parts.length > 1 && (parts[parts.length - 1] === 'Resource' || parts[parts.length - 1] === 'Default')) parts.pop();
  const path = parts.join('/');
  const hash = createHash('sha256').update(path).digest('hex').slice(0, HASH_LENGTH);
  return `${sanitizeName({ ...RESOURCE_NAME_RULE, maxLength: maxLength - suffix.length }, [stack.stackName, path, hash])}${suffix}`;
}
