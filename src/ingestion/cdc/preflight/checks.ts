/**
 * The CDC preflight checks: connect to the source PostgreSQL, look at what AWS DMS change data
 * capture needs, and say in plain words what it would trip on and how to fix it. Shared by the
 * CLI (`cdk-lakehouse-cdc-preflight`) and the Lambda the CdcIngestion construct deploys.
 *
 * What the checks rest on (AWS DMS User Guide):
 * - "Using a PostgreSQL database as an AWS DMS source" (CHAP_Source.PostgreSQL):
 *   - source versions: 9.4 and later; 13.x needs DMS 3.4.3+, 14.x 3.4.7+, 15.x 3.5.1+,
 *     16.x 3.5.3+, 17.x 3.6.1+;
 *   - CDC prerequisites: `wal_level = logical`, `max_replication_slots` and `max_wal_senders`
 *     set for the number of tasks (slots stay taken until dropped), `wal_sender_timeout` 0 or
 *     at least 10000 ms ("fails if the value is between 0 and 10000"), below 5 minutes;
 *   - RDS / Aurora: `rds.logical_replication = 1` in the (cluster) parameter group, a static
 *     parameter that needs a reboot; users other than the master need `rds_replication`;
 *     self-managed: a user with replication rights (the docs ask for superuser);
 *   - limitations: "A captured table must have a primary key. If a table doesn't have a primary
 *     key, AWS DMS ignores DELETE and UPDATE record operations for that table" (replica identity
 *     FULL is the documented workaround, after testing); "The OID LOB data type isn't migrated";
 *     "A table with an ARRAY data type must have a primary key"; NUMERIC without precision and
 *     scale is carried as NUMERIC(28,6);
 *   - "Source data types for PostgreSQL": the type → DMS type table used by `dmsType` below
 *     (TEXT → NCLOB, BYTEA → BLOB, JSON/JSONB/HSTORE/ARRAY/COMPOSITE → NCLOB, XML/TSVECTOR → CLOB...).
 * - "PostgreSQL assessments" (CHAP_Tasks.AssessmentReport.PG): the premigration assessments for
 *   wal_level, max_wal_senders, wal_sender_timeout, tables without a primary key, and a primary
 *   key of a LOB data type.
 * - "Setting LOB support" (CHAP_Tasks.LOBSupport): in limited LOB mode, LOBs over the maximum
 *   LOB size are truncated (a warning in the task log).
 * - PostgreSQL's test_decoding (the plugin DMS uses without pglogical) writes
 *   `unchanged-toast-datum` instead of the value of a TOASTed column an UPDATE did not change.
 */
import type { PreflightTableConfig } from './config';

/** The part of `pg.Client` the checks use (a `pg.Client` or `pg.Pool` fits). */
export interface QueryRunner {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/** What to check. */
export interface PreflightOptions {
  /** The tables the DMS task selects (`schema.table`, `*` or `%` as wildcards). @default every table (`*.*`) */
  readonly tables?: PreflightTableConfig[];
  /** The DMS task uses full LOB mode (no truncation). @default false */
  readonly fullLobMode?: boolean;
  /** The limited-LOB size of the DMS task in KB. @default 32 */
  readonly lobMaxSizeKb?: number;
}

/** One thing CDC would trip on. */
export interface PreflightFinding {
  /** Stable id of the check, e.g. `wal-level`, `primary-key` (see the README / CHECKS). */
  readonly check: string;
  /** `error` (CDC fails or loses changes) or `warning` (works, with a caveat). */
  readonly severity: string;
  /** What is wrong, in plain words, naming the setting, table or column. */
  readonly message: string;
  /** What to run or change. */
  readonly fix: string;
  /** The table concerned (`schema.table`), if any. */
  readonly table?: string;
  /** The column concerned, if any. */
  readonly column?: string;
  /** The server setting or role concerned, if any. */
  readonly setting?: string;
}

/** What the server is and how it is set up. */
export interface PreflightServer {
  /** `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`. */
  readonly version: string;
  /** `server_version_num`, e.g. 150018. */
  readonly versionNum: number;
  /** The DMS engine version this PostgreSQL version needs, e.g. `3.5.1`; `any` for 12 and older. */
  readonly dmsEngineVersion: string;
  /** `rds`, `aurora` or `self-managed` (`unknown` when the server is too old to check). */
  readonly managedBy: string;
  readonly database: string;
  readonly user: string;
  readonly superuser: boolean;
  /** The user may stream changes (superuser, REPLICATION attribute or `rds_replication` member). */
  readonly replicationPrivilege: boolean;
  readonly walLevel: string;
  readonly maxReplicationSlots: number;
  readonly usedReplicationSlots: number;
  readonly maxWalSenders: number;
  readonly activeWalSenders: number;
  /** `wal_sender_timeout` in milliseconds (0 = no timeout). */
  readonly walSenderTimeoutMs: number;
}

/** One column of a selected table. */
export interface PreflightColumn {
  readonly name: string;
  /** The PostgreSQL type, e.g. `character varying(40)`. */
  readonly type: string;
  /** The DMS type it is carried as (per DMS's source data type table), or `unsupported` / `unknown`. */
  readonly dmsType: string;
  /** DMS carries it as a LOB (CLOB, NCLOB or BLOB). */
  readonly lob: boolean;
}

/** One selected table. */
export interface PreflightTable {
  /** `schema.table`. */
  readonly name: string;
  /** Primary key columns in key order; absent when the table has none. */
  readonly primaryKey?: string[];
  /** The key the configuration declares, if any. */
  readonly declaredKey?: string[];
  /** `default`, `full`, `index` or `nothing`. */
  readonly replicaIdentity: string;
  readonly canSelect: boolean;
  readonly columns: PreflightColumn[];
}

/** The preflight result. */
export interface PreflightReport {
  /** No errors: CDC can start (warnings may remain). */
  readonly ok: boolean;
  readonly errorCount: number;
  readonly warningCount: number;
  /** ISO time of the check. */
  readonly checkedAt: string;
  readonly server: PreflightServer;
  readonly findings: PreflightFinding[];
  readonly tables: PreflightTable[];
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** SQL identifier quoting, as quote_ident does. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

function list(names: string[]): string {
  return names.join(', ');
}

/** `schema.table` pattern → LIKE patterns; `*` and `%` match anything, everything else is literal. */
export function parseTablePattern(pattern: string): { schema: string; table: string } {
  const trimmed = pattern.trim();
  const dot = trimmed.indexOf('.');
  const schema = dot < 0 ? 'public' : trimmed.slice(0, dot);
  const table = dot < 0 ? trimmed : trimmed.slice(dot + 1);
  if (!schema || !table) throw new Error(`table pattern "${pattern}" must look like schema.table (e.g. public.orders or sales.*)`);
  const like = (part: string) => part.replace(/[\\_]/g, (c) => `\\${c}`).replace(/\*/g, '%');
  return { schema: like(schema), table: like(table) };
}

const isWildcard = (pattern: string) => /[*%]/.test(pattern);

// ---------------------------------------------------------------------------------------------
// Column types

interface ColumnRow {
  attrelid: number;
  attname: string;
  type: string;
  typname: string;
  typtype: string;
  typcategory: string;
  typlen: number;
  atttypmod: number;
  attstorage: string;
  base_typname: string | null;
  base_typtype: string | null;
  base_typcategory: string | null;
  base_typlen: number | null;
  base_typmod: number | null;
  elem_typname: string | null;
}

interface TypeVerdict {
  dmsType: string;
  lob: boolean;
  /** `unsupported` (error), `unlisted` (warning), `numeric` (lossy, warning), or empty. */
  problem: string;
  /** Can hold values large enough to be TOASTed out of line. */
  toastable: boolean;
}

const SCALAR_TYPES: Record<string, string> = {
  int2: 'INT2',
  int4: 'INT4',
  int8: 'INT8',
  float4: 'REAL4',
  float8: 'REAL8',
  money: 'NUMERIC(38,4)',
  bool: 'BOOLEAN',
  date: 'DATE',
  time: 'TIME',
  timetz: 'TIME',
  timestamp: 'DATETIME',
  timestamptz: 'DATETIME',
  interval: 'STRING(128)',
  cidr: 'STRING(50)',
  inet: 'STRING(50)',
  macaddr: 'STRING(18)',
  uuid: 'STRING',
  point: 'STRING(255)',
  line: 'STRING(255)',
  lseg: 'STRING(255)',
  box: 'STRING(255)',
  circle: 'STRING(255)',
  int4range: 'STRING(255)',
  int8range: 'STRING(255)',
  numrange: 'STRING(255)',
};
const LOB_TYPES: Record<string, string> = {
  text: 'NCLOB',
  bytea: 'BLOB',
  json: 'NCLOB',
  jsonb: 'NCLOB',
  hstore: 'NCLOB',
  xml: 'CLOB',
  tsvector: 'CLOB',
  tsquery: 'CLOB',
  path: 'CLOB',
  polygon: 'CLOB',
};

/** How DMS carries a column type (DMS "Source data types for PostgreSQL"). */
function classify(c: ColumnRow): TypeVerdict {
  const isDomain = c.typtype === 'd';
  const typname = (isDomain ? c.base_typname : c.typname) ?? c.typname;
  const typtype = (isDomain ? c.base_typtype : c.typtype) ?? c.typtype;
  const category = (isDomain ? c.base_typcategory : c.typcategory) ?? c.typcategory;
  const typlen = (isDomain ? c.base_typlen : c.typlen) ?? c.typlen;
  const typmod = isDomain ? (c.base_typmod ?? -1) : c.atttypmod;
  const varlena = typlen === -1 && c.attstorage !== 'p';
  const verdict = (dmsType: string, lob = false, problem = ''): TypeVerdict => ({ dmsType, lob, problem, toastable: varlena && lob });

  if (category === 'A') return verdict('NCLOB', true);
  if (typtype === 'c') return verdict('NCLOB', true);
  if (typtype === 'e') return verdict('STRING(64)');
  if (typname === 'oid') return verdict('unsupported', false, 'unsupported');
  if (typname === 'numeric') {
    if (typmod < 0) return verdict('NUMERIC(28,6)', false, 'numeric');
    const precision = Math.floor((typmod - 4) / 65536); // numeric typmod: ((precision << 16) | scale) + 4
    return verdict(precision > 38 ? 'STRING' : 'NUMERIC');
  }
  if (typname === 'varchar' || typname === 'bpchar') {
    if (typname === 'varchar' && typmod < 0) return verdict('NCLOB', true); // like TEXT
    const n = typmod < 0 ? 1 : typmod - 4;
    return { dmsType: `WSTRING(${n})`, lob: false, problem: '', toastable: varlena && n > 255 };
  }
  if (typname === 'bit' || typname === 'varbit') return verdict(typmod > 0 ? `STRING(${typmod})` : 'STRING');
  if (LOB_TYPES[typname]) return verdict(LOB_TYPES[typname], true);
  if (SCALAR_TYPES[typname]) return verdict(SCALAR_TYPES[typname]);
  return verdict('unknown', false, 'unlisted');
}

// ---------------------------------------------------------------------------------------------
// The checks

const DMS_FOR_MAJOR: Record<number, string> = { 13: '3.4.3', 14: '3.4.7', 15: '3.5.1', 16: '3.5.3', 17: '3.6.1' };
const NEWEST_LISTED_MAJOR = 17;

/** The report for a server older than the checks handle: one error, nothing else checked. */
function tooOld(v: { version: string; num: number; database: string; user: string }): PreflightReport {
  const finding: PreflightFinding = {
    check: 'server-version',
    severity: 'error',
    setting: 'server_version',
    message: v.num < 90400
      ? `PostgreSQL ${v.version} is older than 9.4, the oldest version AWS DMS reads.`
      : `PostgreSQL ${v.version} is out of community support and older than this preflight checks (10 and later).`,
    fix: 'Upgrade PostgreSQL to a supported major version (for RDS, a major version upgrade of the instance).',
  };
  return {
    ok: false,
    errorCount: 1,
    warningCount: 0,
    checkedAt: new Date().toISOString(),
    findings: [finding],
    tables: [],
    server: {
      version: v.version,
      versionNum: v.num,
      dmsEngineVersion: 'any',
      managedBy: 'unknown',
      database: v.database,
      user: v.user,
      superuser: false,
      replicationPrivilege: false,
      walLevel: 'unknown',
      maxReplicationSlots: 0,
      usedReplicationSlots: 0,
      maxWalSenders: 0,
      activeWalSenders: 0,
      walSenderTimeoutMs: 0,
    },
  };
}

/** Runs every check against a connected client. Throws only when a query itself fails. */
export async function runPreflight(client: QueryRunner, options: PreflightOptions = {}): Promise<PreflightReport> {
  const findings: PreflightFinding[] = [];
  const add = (f: PreflightFinding) => findings.push(f);

  // --- Server, settings, user -----------------------------------------------------------------
  // The queries below need PostgreSQL 10 (pg_stat_activity.backend_type); older servers get one finding.
  const ver = (await client.query(`select current_setting('server_version') as version, current_setting('server_version_num')::int as num,
    current_database() as database, current_user as "user"`)).rows[0];
  if (ver.num < 100000) return tooOld(ver);
  const s = (await client.query(`
    select current_setting('server_version') as version,
           current_setting('server_version_num')::int as version_num,
           current_database() as database, current_user as "user",
           r.rolsuper as superuser, r.rolreplication as replication,
           current_setting('wal_level') as wal_level,
           current_setting('max_replication_slots')::int as max_slots,
           current_setting('max_wal_senders')::int as max_senders,
           (select setting::int from pg_settings where name = 'wal_sender_timeout') as wal_sender_timeout_ms,
           current_setting('rds.logical_replication', true) as rds_logical_replication,
           to_regproc('aurora_version') is not null as aurora,
           exists (select 1 from pg_roles where rolname = 'rds_superuser') as rds_superuser_role,
           exists (select 1 from pg_roles where rolname = 'rds_replication') as rds_replication_role,
           (select count(*) from pg_stat_activity where backend_type = 'walsender')::int as active_senders
      from pg_roles r where r.rolname = current_user`)).rows[0];
  const slots = (await client.query('select slot_name, slot_type, active from pg_replication_slots order by slot_name')).rows as
    { slot_name: string; slot_type: string; active: boolean }[];
  let rdsReplicationMember = false;
  if (s.rds_replication_role) {
    rdsReplicationMember = (await client.query("select pg_has_role(current_user, 'rds_replication', 'MEMBER') as m")).rows[0].m;
  }
  const managedBy = s.aurora ? 'aurora' : (s.rds_logical_replication !== null || s.rds_superuser_role) ? 'rds' : 'self-managed';
  const managed = managedBy !== 'self-managed';
  const parameterGroup = managedBy === 'aurora' ? 'DB cluster parameter group' : 'DB parameter group';
  const major = Math.floor(s.version_num / 10000);
  const user: string = s.user;

  const server: PreflightServer = {
    version: s.version,
    versionNum: s.version_num,
    dmsEngineVersion: s.version_num < 130000 ? 'any' : (DMS_FOR_MAJOR[major] ?? `newer than ${DMS_FOR_MAJOR[NEWEST_LISTED_MAJOR]}`),
    managedBy,
    database: s.database,
    user,
    superuser: s.superuser,
    replicationPrivilege: s.superuser || s.replication || rdsReplicationMember,
    walLevel: s.wal_level,
    maxReplicationSlots: s.max_slots,
    usedReplicationSlots: slots.length,
    maxWalSenders: s.max_senders,
    activeWalSenders: s.active_senders,
    walSenderTimeoutMs: s.wal_sender_timeout_ms,
  };

  // Version (DMS supports 9.4 and later; each newer major needs a minimum DMS engine version).
  if (major > NEWEST_LISTED_MAJOR) {
    add({
      check: 'server-version',
      severity: 'warning',
      setting: 'server_version',
      message: `PostgreSQL ${major} is newer than the versions the AWS DMS documentation lists as sources (up to ${NEWEST_LISTED_MAJOR}).`,
      fix: 'Check the DMS release notes for support of this version and pick a replication engine version that lists it.',
    });
  }

  // wal_level = logical.
  if (s.wal_level !== 'logical') {
    add({
      check: 'wal-level',
      severity: 'error',
      setting: managed ? 'rds.logical_replication' : 'wal_level',
      message: `wal_level is "${s.wal_level}", so the server writes no logical decoding information and DMS cannot read changes.`,
      fix: managed
        ? `In the ${parameterGroup} set rds.logical_replication = 1 and reboot the ${managedBy === 'aurora' ? 'writer instance' : 'DB instance'} (a static parameter); RDS then sets wal_level = logical.`
        : 'Set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL.',
    });
  }

  // Replication slots: at least one, and a free one for the DMS task.
  const inactive = slots.filter((x) => !x.active).map((x) => x.slot_name);
  const where = managed ? `in the ${parameterGroup} and reboot` : 'in postgresql.conf and restart PostgreSQL';
  if (s.max_slots < 1) {
    add({
      check: 'replication-slots',
      severity: 'error',
      setting: 'max_replication_slots',
      message: 'max_replication_slots is 0: DMS needs one logical replication slot per task.',
      fix: `Set max_replication_slots to at least the number of DMS tasks plus slots already used ${where}.`,
    });
  } else if (slots.length >= s.max_slots) {
    add({
      check: 'replication-slots',
      severity: 'error',
      setting: 'max_replication_slots',
      message: `All ${s.max_slots} replication slots are in use (${list(slots.map((x) => x.slot_name))}): the DMS task cannot create its slot.`,
      fix: (inactive.length
        ? `Drop slots nobody uses with SELECT pg_drop_replication_slot('<name>') (inactive: ${list(inactive)}), or raise `
        : 'Raise ') + `max_replication_slots ${where}.`,
    });
  }

  // WAL senders: at least one, and a free one.
  if (s.max_senders < 1) {
    add({
      check: 'wal-senders',
      severity: 'error',
      setting: 'max_wal_senders',
      message: 'max_wal_senders is 0: DMS streams changes through a WAL sender and none may start.',
      fix: `Set max_wal_senders to at least the number of DMS tasks plus the standbys and other replication clients ${where}.`,
    });
  } else if (s.active_senders >= s.max_senders) {
    add({
      check: 'wal-senders',
      severity: 'error',
      setting: 'max_wal_senders',
      message: `All ${s.max_senders} WAL senders are busy: the DMS task could not start streaming.`,
      fix: `Raise max_wal_senders ${where}, or stop replication clients you no longer need.`,
    });
  }

  // wal_sender_timeout: 0, or at least 10 s; below 5 minutes.
  const timeout: number = s.wal_sender_timeout_ms;
  if (timeout > 0 && timeout < 10_000) {
    add({
      check: 'wal-sender-timeout',
      severity: 'error',
      setting: 'wal_sender_timeout',
      message: `wal_sender_timeout is ${timeout} ms; DMS needs 0 (no timeout) or at least 10000 ms and fails between the two.`,
      fix: managed
        ? `Set wal_sender_timeout to 0 or between 10000 and 300000 (ms) in the ${parameterGroup}.`
        : 'Set wal_sender_timeout = 0 or a value between 10s and 5min in postgresql.conf and reload (SELECT pg_reload_conf()).',
    });
  } else if (timeout > 300_000) {
    add({
      check: 'wal-sender-timeout',
      severity: 'warning',
      setting: 'wal_sender_timeout',
      message: `wal_sender_timeout is ${timeout} ms, over 5 minutes: a Multi-AZ failover of the DMS replication instance would wait that long.`,
      fix: `Lower wal_sender_timeout to at most 300000 ms (5 minutes)${managed ? ` in the ${parameterGroup}` : ''}, or 0.`,
    });
  }

  // The user may stream changes.
  if (!server.replicationPrivilege) {
    add({
      check: 'replication-privilege',
      severity: 'error',
      setting: managed ? 'rds_replication' : 'REPLICATION',
      message: managed
        ? `User "${user}" is not a member of rds_replication, so it cannot create logical replication slots or stream changes.`
        : `User "${user}" has neither the REPLICATION attribute nor superuser, so it cannot create logical replication slots or stream changes.`,
      fix: managed
        ? `As the master user run: GRANT rds_replication TO ${quoteIdent(user)};`
        : `As a superuser run: ALTER ROLE ${quoteIdent(user)} REPLICATION; and allow replication connections for it in pg_hba.conf.`,
    });
  }

  // --- Tables ---------------------------------------------------------------------------------
  const specs = options.tables && options.tables.length ? options.tables : [{ name: '*.*' }];
  interface TableRow {
    oid: number; nspname: string; relname: string; relkind: string; relreplident: string; can_select: boolean; schema_usage: boolean;
  }
  const selected = new Map<number, { row: TableRow; declared?: string[] }>();
  for (const spec of specs) {
    const { schema, table } = parseTablePattern(spec.name);
    const rows = (await client.query(`
      select c.oid::int as oid, n.nspname, c.relname, c.relkind, c.relreplident,
             has_table_privilege(c.oid, 'SELECT') as can_select,
             has_schema_privilege(n.oid, 'USAGE') as schema_usage
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p')
         and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
         and n.nspname like $1 escape '\\' and c.relname like $2 escape '\\'
       order by n.nspname, c.relname`, [schema, table])).rows as TableRow[];
    if (!rows.length) {
      add({
        check: 'table-pattern',
        severity: 'error',
        table: spec.name,
        message: `"${spec.name}" matches no table in database "${s.database}"${isWildcard(spec.name) ? '' : ' (check the schema and the spelling; names are case-sensitive)'}.`,
        fix: 'Correct the table selection, or create the table before deploying.',
      });
    }
    for (const row of rows) {
      const prev = selected.get(row.oid);
      selected.set(row.oid, { row, declared: spec.primaryKey ?? prev?.declared });
    }
  }

  const oids = [...selected.keys()];
  const pkRows = oids.length ? (await client.query(`
    select i.indrelid::int as oid, array_agg(a.attname::text order by k.ord) as cols
      from pg_index i
      cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
     where i.indisprimary and i.indrelid = any($1::oid[])
     group by i.indrelid`, [oids])).rows : [];
  const pks = new Map<number, string[]>(pkRows.map((r: { oid: number; cols: string[] }) => [r.oid, r.cols]));
  const colRows = oids.length ? (await client.query(`
    select a.attrelid::int as attrelid, a.attname, format_type(a.atttypid, a.atttypmod) as type,
           t.typname, t.typtype, t.typcategory, t.typlen::int as typlen, a.atttypmod, a.attstorage,
           bt.typname as base_typname, bt.typtype as base_typtype, bt.typcategory as base_typcategory,
           bt.typlen::int as base_typlen, t.typtypmod as base_typmod, et.typname as elem_typname
      from pg_attribute a
      join pg_type t on t.oid = a.atttypid
      left join pg_type bt on bt.oid = t.typbasetype and t.typtype = 'd'
      left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
     where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
     order by a.attrelid, a.attnum`, [oids])).rows as ColumnRow[] : [];

  const lobLimit = options.lobMaxSizeKb ?? 32;
  const identities: Record<string, string> = { d: 'default', f: 'full', i: 'index', n: 'nothing' };
  const tables: PreflightTable[] = [];
  for (const [oid, { row, declared }] of selected) {
    const name = `${row.nspname}.${row.relname}`;
    const sqlName = qualified(row.nspname, row.relname);
    const pk = pks.get(oid);
    const cols = colRows.filter((c) => c.attrelid === oid);
    const verdicts = cols.map((c) => ({ c, v: classify(c) }));
    const columnNames = new Set(cols.map((c) => c.attname));
    const identity = identities[row.relreplident] ?? row.relreplident;
    tables.push({
      name,
      primaryKey: pk,
      declaredKey: declared,
      replicaIdentity: identity,
      canSelect: row.can_select && row.schema_usage,
      columns: verdicts.map(({ c, v }) => ({ name: c.attname, type: c.type, dmsType: v.dmsType, lob: v.lob })),
    });

    // SELECT for the full load (and the merge's reads of the table shape).
    if (!row.schema_usage || !row.can_select) {
      const missing = !row.schema_usage ? `USAGE on schema ${row.nspname}` : 'SELECT';
      add({
        check: 'select-privilege',
        severity: 'error',
        table: name,
        message: `User "${user}" lacks ${missing} for ${name}, so DMS cannot read the table for the full load.`,
        fix: (!row.schema_usage ? `GRANT USAGE ON SCHEMA ${quoteIdent(row.nspname)} TO ${quoteIdent(user)}; ` : '') +
          `GRANT SELECT ON ${sqlName} TO ${quoteIdent(user)};`,
      });
    }

    // A primary key: DMS ignores UPDATE and DELETE of keyless tables; the merge needs a key.
    const declaredOk = !!declared && declared.length > 0 && declared.every((k) => columnNames.has(k));
    if (!pk) {
      if (row.relreplident === 'f' && declaredOk) {
        add({
          check: 'primary-key',
          severity: 'warning',
          table: name,
          message: `${name} has no primary key; it relies on REPLICA IDENTITY FULL and the declared key (${list(declared!)}), the workaround DMS documents for keyless tables: test updates and deletes before relying on it.`,
          fix: `Prefer a real key: ALTER TABLE ${sqlName} ADD PRIMARY KEY (${declared!.map(quoteIdent).join(', ')});`,
        });
      } else {
        add({
          check: 'primary-key',
          severity: 'error',
          table: name,
          message: `${name} has no primary key: DMS ignores its UPDATEs and DELETEs (only inserts would arrive), and the merge needs a key to find the row a change belongs to.`,
          fix: `Add a primary key: ALTER TABLE ${sqlName} ADD PRIMARY KEY (<key columns>); or declare the key columns for this table and run ALTER TABLE ${sqlName} REPLICA IDENTITY FULL;`,
        });
      }
    }

    // A declared key must exist and match the primary key.
    if (declared && declared.length) {
      const unknown = declared.filter((k) => !columnNames.has(k));
      if (unknown.length) {
        add({
          check: 'declared-key',
          severity: 'error',
          table: name,
          column: unknown[0],
          message: `The key declared for ${name} names ${unknown.length > 1 ? 'columns' : 'a column'} the table does not have: ${list(unknown)} (columns: ${list(cols.map((c) => c.attname))}).`,
          fix: `Declare the key with existing columns${pk ? `, e.g. its primary key (${list(pk)})` : ''}.`,
        });
      } else if (pk && (pk.length !== declared.length || [...pk].sort().join('\u0000') !== [...declared].sort().join('\u0000'))) {
        add({
          check: 'declared-key',
          severity: 'error',
          table: name,
          message: `The key declared for ${name} (${list(declared)}) differs from its primary key (${list(pk)}): DMS identifies changed rows by the primary key, so the merge would match the wrong rows.`,
          fix: `Declare the primary key (${list(pk)}) for ${name}, or change the table's primary key to match.`,
        });
      }
    }

    // REPLICA IDENTITY NOTHING: deletes carry no key.
    if (row.relreplident === 'n') {
      add({
        check: 'replica-identity',
        severity: 'error',
        table: name,
        message: `${name} has REPLICA IDENTITY NOTHING: its DELETEs reach the WAL without the key of the deleted row, so deletes cannot be applied.`,
        fix: `ALTER TABLE ${sqlName} REPLICA IDENTITY DEFAULT; (uses the primary key)`,
      });
    }

    // Column types.
    for (const { c, v } of verdicts) {
      if (v.problem === 'unsupported') {
        add({
          check: 'column-type',
          severity: 'error',
          table: name,
          column: c.attname,
          message: `Column ${name}.${c.attname} has type ${c.type}, which DMS does not migrate (OID large-object references are not carried).`,
          fix: 'Store the data inline (e.g. in a bytea column), or leave the column out of the task with a DMS transformation rule (remove-column).',
        });
      } else if (v.problem === 'unlisted') {
        add({
          check: 'column-type',
          severity: 'warning',
          table: name,
          column: c.attname,
          message: `Column ${name}.${c.attname} has type ${c.type}, which is not in DMS's list of PostgreSQL source types: DMS may carry it as a string, or not at all.`,
          fix: 'Try the table in a test DMS task first; otherwise change the column to a listed type (e.g. text) or leave it out of the task with a DMS transformation rule (remove-column).',
        });
      } else if (v.problem === 'numeric') {
        add({
          check: 'column-type',
          severity: 'warning',
          table: name,
          column: c.attname,
          message: `Column ${name}.${c.attname} is numeric without precision and scale: DMS carries it as NUMERIC(28,6), so digits past the 6th decimal are lost.`,
          fix: `Give it a precision and scale: ALTER TABLE ${sqlName} ALTER COLUMN ${quoteIdent(c.attname)} TYPE numeric(<p>,<s>);`,
        });
      }
    }
    const arrays = verdicts.filter(({ c }) => (c.typtype === 'd' ? c.base_typcategory : c.typcategory) === 'A');
    if (!pk && arrays.length) {
      add({
        check: 'column-type',
        severity: 'error',
        table: name,
        column: arrays[0].c.attname,
        message: `${name} has array columns (${list(arrays.map(({ c }) => c.attname))}) and no primary key: DMS suspends such a table during the full load.`,
        fix: `Add a primary key: ALTER TABLE ${sqlName} ADD PRIMARY KEY (<key columns>);`,
      });
    }

    // A primary key of a LOB type.
    const lobKey = (pk ?? []).filter((k) => verdicts.find(({ c }) => c.attname === k)?.v.lob);
    if (lobKey.length) {
      add({
        check: 'primary-key-type',
        severity: 'error',
        table: name,
        column: lobKey[0],
        message: `The primary key of ${name} includes ${list(lobKey.map((k) => `${k} (${cols.find((c) => c.attname === k)!.type})`))}, which DMS treats as a LOB: LOB columns arrive after the row, so the key is empty when the row is written.`,
        fix: `Use a bounded type for the key: ALTER TABLE ${sqlName} ALTER COLUMN ${quoteIdent(lobKey[0])} TYPE varchar(<n>);`,
      });
    }

    // LOB columns: truncated in limited LOB mode.
    const lobs = verdicts.filter(({ v }) => v.lob).map(({ c }) => c.attname);
    if (lobs.length && !options.fullLobMode) {
      add({
        check: 'lob-columns',
        severity: 'warning',
        table: name,
        column: lobs[0],
        message: `${name} has columns DMS carries as LOBs (${list(lobs)}): in limited LOB mode values over ${lobLimit} KB are cut to ${lobLimit} KB.`,
        fix: `Check the largest value (SELECT max(octet_length(<column>)) FROM ${sqlName}) and set the task's LOB size above it, or use full LOB mode.`,
      });
    }

    // Unchanged TOASTed values are not in the WAL unless the replica identity is FULL.
    const toastable = verdicts.filter(({ v }) => v.toastable).map(({ c }) => c.attname);
    if (toastable.length && row.relreplident !== 'f') {
      add({
        check: 'toast-replica-identity',
        severity: 'warning',
        table: name,
        column: toastable[0],
        message: `${name} has columns whose large values PostgreSQL stores out of line (TOAST): ${list(toastable)}. An UPDATE that does not change them carries no value for them in the WAL (test_decoding writes "unchanged-toast-datum"), so such changes can arrive with these columns empty, and the merge would overwrite the stored value.`,
        fix: `ALTER TABLE ${sqlName} REPLICA IDENTITY FULL; (the old row, these values included, then goes into the WAL: more WAL per update)`,
      });
    }
  }

  const errorCount = findings.filter((f) => f.severity === 'error').length;
  return {
    ok: errorCount === 0,
    errorCount,
    warningCount: findings.length - errorCount,
    checkedAt: new Date().toISOString(),
    server,
    findings,
    tables,
  };
}

/** The report for people: a header, one block per finding (errors first), and the verdict. */
export function formatReport(report: PreflightReport): string {
  const s = report.server;
  const lines: string[] = [];
  lines.push(`CDC preflight: database "${s.database}" as user "${s.user}", PostgreSQL ${s.version.split(' ')[0]} (${s.managedBy}${s.dmsEngineVersion !== 'any' ? `; needs DMS engine ${s.dmsEngineVersion} or later` : ''})`);
  lines.push(`wal_level=${s.walLevel}, replication slots ${s.usedReplicationSlots}/${s.maxReplicationSlots} used, WAL senders ${s.activeWalSenders}/${s.maxWalSenders} busy, wal_sender_timeout=${s.walSenderTimeoutMs} ms, replication privilege: ${s.replicationPrivilege ? 'yes' : 'no'}`);
  lines.push(report.tables.length
    ? `Tables (${report.tables.length}): ${report.tables.map((t) => `${t.name}${t.primaryKey ? ` [key: ${t.primaryKey.join(', ')}]` : ' [no key]'}`).join(', ')}`
    : 'Tables: none matched');
  lines.push('');
  const ordered = [...report.findings].sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  for (const f of ordered) {
    lines.push(`${f.severity === 'error' ? 'ERROR  ' : 'WARNING'} [${f.check}] ${f.message}`);
    lines.push(`        Fix: ${f.fix}`);
  }
  if (ordered.length) lines.push('');
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  lines.push(report.ok
    ? `OK: nothing blocks CDC${report.warningCount ? ` (${plural(report.warningCount, 'warning')})` : ''}.`
    : `NOT READY: ${plural(report.errorCount, 'error')}${report.warningCount ? `, ${plural(report.warningCount, 'warning')}` : ''}: fix the errors before deploying.`);
  return lines.join('\n') + '\n';
}
