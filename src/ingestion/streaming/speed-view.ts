import { Duration, Fn, Stack, Token } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { glueArns } from '../../core/grants';
import { propError, validateGlueName } from '../../core/validation';
import { IcebergTable } from '../../lakehouse/iceberg-table';
import { RawTable } from '../../lakehouse/raw-table';

const NAME = 'SpeedView';
/** The partition keys a speed view needs on the raw table, in the raw zone's path order. */
const RAW_PARTITIONS = ['event_type', 'event_subtype', 'year', 'month', 'day'];
const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
/** Athena's catalog name for the AWS Glue Data Catalog of the account (what Athena writes into a view). */
const ATHENA_CATALOG = 'awsdatacatalog';

/** Which JSON fields of a raw line hold the event id, type and time (dots reach into nested objects). */
export interface SpeedViewFields {
  /**
   * Field of the event id.
   * @default 'event_id'
   */
  readonly id?: string;
  /**
   * Field of the event type.
   * @default 'event_type'
   */
  readonly type?: string;
  /**
   * Field of the event time (ISO-8601).
   * @default 'event_time'
   */
  readonly time?: string;
}

/** Props of `SpeedView`. */
export interface SpeedViewProps {
  /**
   * The raw table the events land in: partitioned by `event_type`, `event_subtype`, `year`, `month`,
   * `day` (the Firehose layout of StreamingDedupIngestion), JSON lines.
   */
  readonly rawTable: RawTable;
  /** The curated Iceberg table the merge writes (columns `event_id`, `event_type`, `event_subtype`, `event_time`, `payload`, `ingested_at`). */
  readonly curatedTable: IcebergTable;
  /**
   * Name of the view, in the curated table's database. A Glue name.
   * @default - the curated table's name + `_live`
   */
  readonly viewName?: string;
  /**
   * JSON fields of a raw line (as the merge reads them).
   * @default - event_id, event_type, event_time
   */
  readonly eventFields?: SpeedViewFields;
  /**
   * How many days of raw partitions (by event date, today in UTC included) the view reads. An event
   * not merged yet whose event date is older is not in the view until the merge has written it. Whole days, 1 to 31.
   * @default Duration.days(2)
   */
  readonly lookback?: Duration;
  /**
   * The merge's dedup window: a raw event is hidden when the curated table holds its id with an event
   * time from the first raw day minus this window on (where the merge looks for its duplicates).
   * @default Duration.hours(24)
   */
  readonly dedupWindow?: Duration;
  /**
   * Description of the view.
   * @default - a sentence naming the two tables
   */
  readonly description?: string;
}

/** A column of the speed view: its name, its Hive type (Glue) and its Presto/Trino type (the view JSON). */
export interface SpeedViewColumn {
  /** Column name. */
  readonly name: string;
  /** Type in the Glue table's storage descriptor (Hive). */
  readonly hiveType: string;
  /** Type in the view definition Athena reads (Presto/Trino). */
  readonly prestoType: string;
}

/**
 * One Athena view over an event dataset's curated Iceberg table and the raw events the merge has
 * not written yet, each event id once (the curated row wins), so analysts query one name and see
 * events as soon as Firehose delivers them.
 *
 * The view reads the raw objects through a second table over the raw prefix (`<raw table>_lines`,
 * one column `line`: each JSON line whole, parsed in the view as the merge parses it) with the raw
 * table's partition projection, limited to the last `lookback` days of event dates. It is an
 * Athena (Presto/Trino) view: a Glue `VIRTUAL_VIEW` whose `ViewOriginalText` is
 * `/* Presto View: <base64 JSON> *\/`. See docs/streaming-dedup-ingestion.md, "Speed view".
 *
 * StreamingDedupIngestion creates one per dataset (`speedView`, default on); give another ingestion
 * with the same raw layout its own with `new SpeedView(scope, id, { rawTable, curatedTable })`.
 *
 * @example
 * declare const events: StreamingDedupIngestion;
 * declare const analyst: iam.Role;
 *
 * // Analysts query <curated database>.<dataset>_live; this grants the Glue and S3 reads it needs.
 * events.speedView?.grantRead(analyst);
 */
export class SpeedView extends Construct {
  /** The view's columns, in order. */
  public static readonly COLUMNS: SpeedViewColumn[] = [
    { name: 'event_id', hiveType: 'string', prestoType: 'varchar' },
    { name: 'event_type', hiveType: 'string', prestoType: 'varchar' },
    { name: 'event_subtype', hiveType: 'string', prestoType: 'varchar' },
    { name: 'event_time', hiveType: 'timestamp', prestoType: 'timestamp(6)' },
    { name: 'payload', hiveType: 'string', prestoType: 'varchar' },
    { name: 'ingested_at', hiveType: 'timestamp', prestoType: 'timestamp(6)' },
    { name: 'source', hiveType: 'string', prestoType: 'varchar' },
  ];

  /** The view's name (in the curated database). */
  public readonly viewName: string;
  /** The curated database the view is in. */
  public readonly databaseName: string;
  /** The view's SQL (Trino dialect, as Athena runs it). */
  public readonly viewSql: string;
  /** The view's Glue table (`VIRTUAL_VIEW`). */
  public readonly viewTable: glue.CfnTable;
  /** The name of the table of raw lines the view reads (in the raw database). */
  public readonly linesTableName: string;
  /** The table of raw lines (same prefix and partition projection as the raw table, one `line` column). */
  public readonly linesTable: glue.CfnTable;
  /** How many days of raw partitions the view reads. */
  public readonly lookbackDays: number;

  private readonly rawTable: RawTable;
  private readonly curatedTable: IcebergTable;

  constructor(scope: Construct, id: string, props: SpeedViewProps) {
    super(scope, id);
    const p = resolveSpeedViewProps(props);
    this.rawTable = props.rawTable;
    this.curatedTable = props.curatedTable;
    this.viewName = p.viewName;
    this.lookbackDays = p.lookbackDays;
    this.databaseName = props.curatedTable.zone.databaseName;
    this.linesTableName = p.linesTableName;
    const rawZone = props.rawTable.zone;
    const account = Stack.of(this).account;

    // The lines table: the raw table's location and projection, the whole line as one string.
    const rawInput = props.rawTable.cfnTable.tableInput as glue.CfnTable.TableInputProperty;
    const rawParameters = rawInput.parameters as { [key: string]: string };
    const parameters: { [key: string]: string } = { classification: 'text', has_encrypted_data: 'true' };
    for (const [k, v] of Object.entries(rawParameters)) {
      if (k.startsWith('projection.') || k === 'storage.location.template') parameters[k] = v;
    }
    this.linesTable = new glue.CfnTable(this, 'LinesTable', {
      catalogId: account,
      databaseName: rawZone.databaseName,
      tableInput: {
        name: this.linesTableName,
        description: `Raw JSON lines of ${props.rawTable.tableName}, one string each: read by the speed view ${this.viewName}`,
        tableType: 'EXTERNAL_TABLE',
        parameters,
        partitionKeys: rawInput.partitionKeys,
        storageDescriptor: {
          columns: [{ name: 'line', type: 'string', comment: 'One JSON line as delivered' }],
          location: rawZone.s3Url(props.rawTable.prefix),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          // LazySimpleSerDe splits fields at \u0001, which JSON text never holds unescaped: one column per line.
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe', parameters: { 'field.delim': '\u0001' } },
        },
      },
    });
    this.linesTable.node.addDependency(props.rawTable);

    this.viewSql = speedViewSql({
      catalog: ATHENA_CATALOG,
      curatedDatabase: this.databaseName,
      curatedTable: props.curatedTable.tableName,
      rawDatabase: rawZone.databaseName,
      linesTable: this.linesTableName,
      fields: p.fields,
      lookbackDays: p.lookbackDays,
      dedupWindowSeconds: p.dedupWindowSeconds,
    });
    // The view definition Trino/Athena read back (io.trino.spi.connector.ConnectorViewDefinition): no owner,
    // so the view runs with the querying identity's permissions, as every Athena view.
    const definition = {
      originalSql: this.viewSql,
      catalog: ATHENA_CATALOG,
      schema: this.databaseName,
      columns: SpeedView.COLUMNS.map((c) => ({ name: c.name, type: c.prestoType })),
      runAsInvoker: false,
    };
    // Names known at synth time: the base64 is in the template as Athena writes it; otherwise CloudFormation encodes it.
    const plain = JSON.stringify(definition);
    const encoded = Token.isUnresolved(plain) ? Fn.base64(Stack.of(this).toJsonString(definition)) : Buffer.from(plain, 'utf8').toString('base64');
    this.viewTable = new glue.CfnTable(this, 'View', {
      catalogId: account,
      databaseName: this.databaseName,
      tableInput: {
        name: this.viewName,
        description: p.description,
        tableType: 'VIRTUAL_VIEW',
        parameters: { presto_view: 'true', comment: 'Presto View' },
        viewOriginalText: Fn.join('', ['/* Presto View: ', encoded, ' */']),
        viewExpandedText: '/* Presto View */',
        storageDescriptor: {
          columns: SpeedView.COLUMNS.map((c) => ({ name: c.name, type: c.hiveType })),
          serdeInfo: {},
        },
      },
    });
    this.viewTable.node.addDependency(props.curatedTable, this.linesTable);
  }

  /**
   * Lets a principal query the view: Glue reads of the view, the lines table, the raw and curated
   * tables, and S3 + KMS reads of both tables' data (the raw table's and the curated table's grants).
   * Athena itself (workgroup, results) comes from AthenaServing.
   */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    const raw = glueArns(this, this.rawTable.zone.databaseName);
    const curated = glueArns(this, this.databaseName);
    return this.rawTable.grantRead(grantee)
      .combine(this.curatedTable.grantRead(grantee))
      .combine(iam.Grant.addToPrincipal({
        grantee,
        actions: ['glue:GetTable', 'glue:GetTables', 'glue:GetPartitions', 'glue:GetDatabase'],
        resourceArns: [raw.catalogArn, raw.databaseArn, raw.tableArn(this.linesTableName), curated.databaseArn, curated.tableArn(this.viewName)],
      }));
  }
}

/** Everything `speedViewSql` needs. */
interface SpeedViewSqlOptions {
  catalog: string;
  curatedDatabase: string;
  curatedTable: string;
  rawDatabase: string;
  linesTable: string;
  fields: { id: string; type: string; time: string };
  lookbackDays: number;
  dedupWindowSeconds: number;
}

function quoted(...parts: string[]): string {
  return parts.map((p) => `"${p.replace(/"/g, '""')}"`).join('.');
}

/**
 * The view's SQL (Trino). Raw rows: the lines of the last `lookbackDays` event days, parsed as the
 * merge parses them (lines without an id or type left out), one row per (type, subtype, id), the
 * earliest event time winning and then the smallest payload (the merge's own choice). A raw row is
 * dropped when the curated table holds its event id (with an event time the merge would have
 * compared it with); the curated rows come unchanged.
 */
function speedViewSql(o: SpeedViewSqlOptions): string {
  const curated = quoted(o.catalog, o.curatedDatabase, o.curatedTable);
  const lines = quoted(o.catalog, o.rawDatabase, o.linesTable);
  const json = (field: string) => `json_extract_scalar(line, '$.${field}')`;
  const start = `current_date - INTERVAL '${o.lookbackDays - 1}' DAY`;
  return [
    'WITH raw_events AS (',
    '  SELECT',
    `    ${json(o.fields.id)} AS event_id,`,
    `    ${json(o.fields.type)} AS type_field,`,
    '    event_type,',
    '    event_subtype,',
    `    CAST(try(from_iso8601_timestamp(${json(o.fields.time)}) AT TIME ZONE 'UTC') AS timestamp(6)) AS event_time,`,
    '    trim(line) AS payload',
    `  FROM ${lines}`,
    // The coarse bound on one key lets the projection prune by year; the date bound prunes by day.
    `  WHERE year >= CAST(year(${start}) AS varchar)`,
    `    AND CAST(concat(year, '-', month, '-', day) AS date) >= ${start}`,
    '    AND length(trim(line)) > 0',
    '),',
    'raw_ranked AS (',
    '  SELECT event_id, event_type, event_subtype, event_time, payload,',
    '    row_number() OVER (PARTITION BY event_type, event_subtype, event_id ORDER BY event_time ASC NULLS LAST, payload ASC) AS rank_in_raw',
    '  FROM raw_events',
    '  WHERE event_id IS NOT NULL AND type_field IS NOT NULL',
    ')',
    'SELECT CAST(event_id AS varchar) AS event_id, CAST(event_type AS varchar) AS event_type, CAST(event_subtype AS varchar) AS event_subtype,',
    '  CAST(event_time AS timestamp(6)) AS event_time, CAST(payload AS varchar) AS payload, CAST(ingested_at AS timestamp(6)) AS ingested_at,',
    "  CAST('curated' AS varchar) AS source",
    `FROM ${curated}`,
    'UNION ALL',
    'SELECT r.event_id, r.event_type, r.event_subtype, r.event_time, r.payload, CAST(NULL AS timestamp(6)) AS ingested_at,',
    "  CAST('raw' AS varchar) AS source",
    'FROM raw_ranked r',
    'WHERE r.rank_in_raw = 1',
    `  AND NOT EXISTS (SELECT 1 FROM ${curated} c`,
    '    WHERE c.event_id = r.event_id',
    `      AND c.event_time >= CAST(${start} AS timestamp(6)) - INTERVAL '${o.dedupWindowSeconds}' SECOND)`,
  ].join('\n');
}

/** Every default and every validation of the props, in one place. */
function resolveSpeedViewProps(props: SpeedViewProps) {
  const viewName = props.viewName ?? `${props.curatedTable.tableName}_live`;
  validateGlueName(NAME, 'viewName', viewName);
  if (viewName === props.curatedTable.tableName) {
    throw propError(NAME, 'viewName', `"${viewName}" is the curated table's own name`, 'give the view another name, e.g. "<table>_live"');
  }
  const linesTableName = `${props.rawTable.tableName}_lines`;
  validateGlueName(NAME, 'rawTable.tableName', linesTableName);
  const rawInput = props.rawTable.cfnTable.tableInput as glue.CfnTable.TableInputProperty;
  const keys = ((rawInput.partitionKeys ?? []) as glue.CfnTable.ColumnProperty[]).map((k) => k.name);
  if (keys.join('/') !== RAW_PARTITIONS.join('/')) {
    throw propError(NAME, 'rawTable', `its partition keys are [${keys.join(', ')}]`, `give a raw table partitioned by ${RAW_PARTITIONS.join(', ')} (the layout of StreamingDedupIngestion)`);
  }
  const fields = {
    id: props.eventFields?.id ?? 'event_id',
    type: props.eventFields?.type ?? 'event_type',
    time: props.eventFields?.time ?? 'event_time',
  };
  for (const [name, value] of Object.entries(fields)) {
    if (!FIELD_PATH.test(value)) {
      throw propError(NAME, `eventFields.${name}`, `"${value}" is not a JSON field path`, 'use a field name such as "event_id", or dots for nested fields ("meta.id")');
    }
  }
  const lookback = props.lookback ?? Duration.days(2);
  const lookbackDays = lookback.toDays({ integral: false });
  if (!Number.isInteger(lookbackDays) || lookbackDays < 1 || lookbackDays > 31) {
    throw propError(NAME, 'lookback', `${lookback.toHumanString()} is not a whole number of days from 1 to 31`, 'give Duration.days(n) with 1 <= n <= 31');
  }
  const dedupWindowSeconds = (props.dedupWindow ?? Duration.hours(24)).toSeconds({ integral: false });
  if (!Number.isInteger(dedupWindowSeconds) || dedupWindowSeconds < 0) {
    throw propError(NAME, 'dedupWindow', `${dedupWindowSeconds} s is not a whole number of seconds`, 'give a whole number of seconds, e.g. Duration.hours(24)');
  }
  const description = props.description
    ?? `Events of ${props.curatedTable.tableName}: the curated rows and the raw events of the last ${lookbackDays} event days the merge has not written yet, each event id once`;
  return { viewName, linesTableName, fields, lookbackDays, dedupWindowSeconds, description };
}

/**
 * The longest time between two starts of a schedule, as an upper bound in seconds: a rate is exact; a cron
 * with every hour is at most an hour apart, with fixed hours at most a day, with a day of the week at most
 * 7 days, with days of the month at most 31 days, with months at most 366 days. Undefined for a one-time
 * `at()` schedule (no next start) and for unresolved tokens.
 */
export function scheduleGapSeconds(expression: string): number | undefined {
  if (Token.isUnresolved(expression)) return undefined;
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) return Number(rate[1]) * (rate[2].startsWith('minute') ? 60 : rate[2].startsWith('hour') ? 3600 : 86400);
  const cron = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/.exec(expression);
  if (!cron) return undefined;
  const [, , hour, dayOfMonth, month, dayOfWeek] = cron;
  const any = (field: string) => field === '*' || field === '?';
  if (!any(month)) return 366 * 86400;
  if (!any(dayOfMonth)) return 31 * 86400;
  if (!any(dayOfWeek)) return 7 * 86400;
  return hour === '*' ? 3600 : 86400;
}

/**
 * The raw living time in whole days, checked: at least one day, and longer than the merge's longest
 * gap + its overlap + the dedup window (an event must be merged before its object expires).
 */
export function resolveRawRetention(construct: string, retention: Duration | undefined, mergeSchedule: string,
  mergeOverlap: Duration, dedupWindow: Duration): number | undefined {
  if (retention === undefined) return undefined;
  const days = retention.toDays({ integral: false });
  if (!Number.isInteger(days) || days < 1) {
    throw propError(construct, 'rawRetention', `${retention.toHumanString()} is not a whole number of days (S3 lifecycle expiration counts days)`,
      'give Duration.days(n) with n >= 1');
  }
  const gap = scheduleGapSeconds(mergeSchedule);
  if (gap === undefined) {
    if (Token.isUnresolved(mergeSchedule)) return days;
    throw propError(construct, 'rawRetention', `the merge schedule "${mergeSchedule}" runs once, so raw events arriving later would expire unmerged`,
      'give mergeSchedule a rate or cron expression, or remove rawRetention');
  }
  const needed = gap + mergeOverlap.toSeconds() + dedupWindow.toSeconds();
  if (days * 86400 <= needed) {
    throw propError(construct, 'rawRetention',
      `${days} days do not exceed the merge schedule's longest gap (${gap / 3600} h) + mergeOverlap (${mergeOverlap.toHumanString()}) + dedupWindow (${dedupWindow.toHumanString()}) = ${needed / 3600} h: events could expire before a merge reads them`,
      `give at least Duration.days(${Math.floor(needed / 86400) + 1}), or merge more often`);
  }
  return days;
}
