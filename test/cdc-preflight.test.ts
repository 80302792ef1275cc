/**
 * The CDC preflight against real PostgreSQL 15 clusters this file starts (Debian packages, see
 * test/support/postgres.ts), no mocks of pg:
 * - cluster A: set up for CDC (wal_level=logical, TLS with a self-signed certificate), with a
 *   database set up right (`good`) and one with a problem per table (`problems`);
 * - cluster B: looks like RDS (rds.* settings and roles) with everything server-wide wrong:
 *   wal_level=replica, the only replication slot taken, no WAL senders, a 5 s wal_sender_timeout.
 * Then the bundled CLI as a child process, and the Lambda handler with its secret served by moto.
 */
import { spawnSync } from 'child_process';
import { AddressInfo, createServer } from 'net';
import * as path from 'path';
import { Client } from 'pg';
import { Moto } from './api-pull-local';
import { PostgresCluster } from './support/postgres';
import { formatReport, PreflightFinding, PreflightOptions, PreflightReport, runPreflight } from '../src/ingestion/cdc/preflight/checks';
import { PREFLIGHT_CONFIG_ENV } from '../src/ingestion/cdc/preflight/config';

jest.setTimeout(60_000);

const CLI = path.join(__dirname, '..', 'assets', 'ingestion', 'cdc', 'preflight', 'cli', 'index.js');

let a: PostgresCluster;
let b: PostgresCluster;

beforeAll(async () => {
  a = new PostgresCluster({ ssl: true, settings: { wal_level: 'logical', max_replication_slots: '4', max_wal_senders: '4' } });
  b = new PostgresCluster({
    settings: {
      'wal_level': 'replica',
      'max_replication_slots': '1',
      'max_wal_senders': '0',
      'wal_sender_timeout': '5s',
      'rds.logical_replication': '0',
    },
  });
  await Promise.all([a.start(), b.start()]);

  await a.sql('postgres', `
    create role dms_ok login password 'ok-pw' replication;
    create role dms_norepl login password 'norepl-pw';`);
  // CREATE DATABASE cannot share a (multi-statement, hence implicit) transaction.
  await a.sql('postgres', 'create database good');
  await a.sql('postgres', 'create database problems');
  await a.sql('good', `
    create schema sales;
    create table public.orders (id bigint primary key, customer_id int not null, amount numeric(12,2), status varchar(20),
                                created_at timestamp, shipped boolean, ordered_on date);
    create table sales.customers (id int primary key, name varchar(100), region char(2));
    create table sales.regions (code char(2) primary key, label varchar(40));
    create table public.other (id int);
    grant usage on schema sales to dms_ok, dms_norepl;
    grant select on all tables in schema public, sales to dms_ok, dms_norepl;`);
  await a.sql('problems', `
    create table public.no_pk (id int, name varchar(20));
    create table public.blobs (id int primary key, doc oid);
    create table public.docs (id int primary key, body text, meta jsonb);
    create table public.full_docs (id int primary key, body text);
    alter table public.full_docs replica identity full;
    create table public.secret (id int primary key);
    create table public.lines (order_id int, line_no int, sku varchar(20), primary key (order_id, line_no));
    create table public.keyless_full (id int, v varchar(10));
    alter table public.keyless_full replica identity full;
    create table public.amounts (id int primary key, amount numeric);
    create table public.tags_nopk (tags text[]);
    create table public.text_pk (code text primary key, label varchar(20));
    create table public.ranges (id int primary key, during tstzrange);
    create table public.nothing_ident (id int primary key);
    alter table public.nothing_ident replica identity nothing;
    grant select on all tables in schema public to dms_ok;
    revoke select on public.secret from dms_ok;`);

  await b.sql('postgres', `
    create role rds_superuser nologin;
    create role rds_replication nologin;
    create role master login password 'master-pw' in role rds_superuser;
    create role streamer login password 'streamer-pw' in role rds_replication;
    create table public.t (id int primary key);
    grant select on public.t to master, streamer;
    select pg_create_physical_replication_slot('standby_1');`);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

async function preflight(
  cluster: PostgresCluster, database: string, user: string, password: string, options: PreflightOptions,
): Promise<PreflightReport> {
  const client = new Client(cluster.config(user, password, database));
  await client.connect();
  try {
    return await runPreflight(client, options);
  } finally {
    await client.end();
  }
}

const only = (report: PreflightReport, check: string, table?: string): PreflightFinding[] =>
  report.findings.filter((f) => f.check === check && (table === undefined || f.table === table));

describe('a database set up right', () => {
  test('reports ok with no findings, and describes the server and the tables', async () => {
    const report = await preflight(a, 'good', 'dms_ok', 'ok-pw', { tables: [{ name: 'public.orders', primaryKey: ['id'] }, { name: 'sales.*' }] });
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, errorCount: 0, warningCount: 0 });
    expect(report.server).toMatchObject({
      versionNum: expect.any(Number),
      dmsEngineVersion: '3.5.1',
      managedBy: 'self-managed',
      database: 'good',
      user: 'dms_ok',
      superuser: false,
      replicationPrivilege: true,
      walLevel: 'logical',
      maxReplicationSlots: 4,
      usedReplicationSlots: 0,
      maxWalSenders: 4,
      walSenderTimeoutMs: 60000,
    });
    expect(report.tables.map((t) => [t.name, t.primaryKey])).toEqual([
      ['public.orders', ['id']], ['sales.customers', ['id']], ['sales.regions', ['code']],
    ]);
    const orders = report.tables[0];
    expect(orders.replicaIdentity).toBe('default');
    expect(orders.canSelect).toBe(true);
    expect(orders.columns.map((c) => [c.name, c.dmsType, c.lob])).toEqual([
      ['id', 'INT8', false], ['customer_id', 'INT4', false], ['amount', 'NUMERIC', false], ['status', 'WSTRING(20)', false],
      ['created_at', 'DATETIME', false], ['shipped', 'BOOLEAN', false], ['ordered_on', 'DATE', false],
    ]);
    expect(formatReport(report)).toMatch(/OK: nothing blocks CDC\.\n$/);
  });

  test('a user without the replication privilege: an error naming the user, with ALTER ROLE ... REPLICATION', async () => {
    const report = await preflight(a, 'good', 'dms_norepl', 'norepl-pw', { tables: [{ name: 'public.orders' }] });
    expect(report.ok).toBe(false);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ check: 'replication-privilege', severity: 'error', setting: 'REPLICATION' });
    expect(report.findings[0].message).toContain('"dms_norepl"');
    expect(report.findings[0].fix).toContain('ALTER ROLE dms_norepl REPLICATION');
  });
});

describe('a database with one problem per table', () => {
  let report: PreflightReport;
  beforeAll(async () => {
    report = await preflight(a, 'problems', 'dms_ok', 'ok-pw', {
      tables: [
        { name: 'public.no_pk' }, { name: 'public.blobs' }, { name: 'public.docs' }, { name: 'public.full_docs' },
        { name: 'public.secret' }, { name: 'public.keyless_full', primaryKey: ['id'] }, { name: 'public.amounts' },
        { name: 'public.tags_nopk' }, { name: 'public.text_pk' }, { name: 'public.ranges' }, { name: 'public.nothing_ident' },
        { name: 'public.lines', primaryKey: ['order_id'] }, { name: 'nothing.*' }, { name: 'public.missing' },
      ],
    });
  });

  test('the report is not ok and the server-wide checks pass', () => {
    expect(report.ok).toBe(false);
    expect(report.findings.filter((f) => !f.table)).toEqual([]);
    expect(formatReport(report)).toMatch(/NOT READY: \d+ errors, \d+ warnings/);
  });

  test('a table without a primary key is an error naming it, with the fix', () => {
    const [f] = only(report, 'primary-key', 'public.no_pk');
    expect(f).toMatchObject({ severity: 'error' });
    expect(f.message).toContain('public.no_pk has no primary key');
    expect(f.fix).toContain('ALTER TABLE public.no_pk ADD PRIMARY KEY');
    expect(f.fix).toContain('REPLICA IDENTITY FULL');
  });

  test('no primary key but a declared key and REPLICA IDENTITY FULL: a warning only', () => {
    expect(only(report, 'primary-key', 'public.keyless_full')).toEqual([expect.objectContaining({ severity: 'warning' })]);
  });

  test('an OID (large object) column is an error naming the column', () => {
    expect(only(report, 'column-type', 'public.blobs')).toEqual([
      expect.objectContaining({ severity: 'error', column: 'doc', message: expect.stringContaining('public.blobs.doc has type oid') }),
    ]);
  });

  test('an array column on a keyless table is an error; a type DMS does not list is a warning; numeric without precision is a warning', () => {
    expect(only(report, 'column-type', 'public.tags_nopk')).toEqual([expect.objectContaining({ severity: 'error', column: 'tags' })]);
    expect(only(report, 'column-type', 'public.ranges')).toEqual([
      expect.objectContaining({ severity: 'warning', column: 'during', message: expect.stringContaining('tstzrange') }),
    ]);
    expect(only(report, 'column-type', 'public.amounts')).toEqual([
      expect.objectContaining({ severity: 'warning', column: 'amount', message: expect.stringContaining('NUMERIC(28,6)') }),
    ]);
  });

  test('a primary key of a LOB type (text) is an error', () => {
    expect(only(report, 'primary-key-type', 'public.text_pk')).toEqual([expect.objectContaining({ severity: 'error', column: 'code' })]);
  });

  test('TOASTable columns without REPLICA IDENTITY FULL: a warning naming them; none once the identity is FULL', () => {
    const [f] = only(report, 'toast-replica-identity', 'public.docs');
    expect(f).toMatchObject({ severity: 'warning', column: 'body' });
    expect(f.message).toContain('body, meta');
    expect(f.fix).toBe('ALTER TABLE public.docs REPLICA IDENTITY FULL; (the old row, these values included, then goes into the WAL: more WAL per update)');
    expect(only(report, 'toast-replica-identity', 'public.full_docs')).toEqual([]);
    expect(only(report, 'lob-columns', 'public.full_docs')).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringContaining('32 KB') })]);
  });

  test('a table the user cannot SELECT is an error with the GRANT', () => {
    expect(only(report, 'select-privilege')).toEqual([
      expect.objectContaining({ severity: 'error', table: 'public.secret', fix: 'GRANT SELECT ON public.secret TO dms_ok;' }),
    ]);
  });

  test('a declared key that differs from the primary key is an error naming both', () => {
    const [f] = only(report, 'declared-key', 'public.lines');
    expect(f.severity).toBe('error');
    expect(f.message).toContain('(order_id) differs from its primary key (order_id, line_no)');
  });

  test('REPLICA IDENTITY NOTHING is an error', () => {
    expect(only(report, 'replica-identity', 'public.nothing_ident')).toEqual([expect.objectContaining({ severity: 'error' })]);
  });

  test('patterns that match nothing are errors naming the pattern', () => {
    expect(only(report, 'table-pattern').map((f) => [f.table, f.severity])).toEqual([['nothing.*', 'error'], ['public.missing', 'error']]);
  });

  test('tables with nothing wrong get no findings', async () => {
    const clean = await preflight(a, 'problems', 'dms_ok', 'ok-pw', { tables: [{ name: 'public.lines', primaryKey: ['line_no', 'order_id'] }] });
    expect(clean.findings).toEqual([]);
  });

  test('a declared key naming a missing column is an error naming the column', async () => {
    const r = await preflight(a, 'problems', 'dms_ok', 'ok-pw', { tables: [{ name: 'public.lines', primaryKey: ['order_id', 'nope'] }] });
    expect(r.findings).toEqual([expect.objectContaining({ check: 'declared-key', severity: 'error', column: 'nope' })]);
  });

  test('a keyless table with REPLICA IDENTITY FULL but no declared key is still an error', async () => {
    const r = await preflight(a, 'problems', 'dms_ok', 'ok-pw', { tables: [{ name: 'public.keyless_full' }] });
    expect(r.findings).toEqual([expect.objectContaining({ check: 'primary-key', severity: 'error' })]);
  });

  test('full LOB mode: no LOB truncation warning', async () => {
    const r = await preflight(a, 'problems', 'dms_ok', 'ok-pw', { tables: [{ name: 'public.full_docs' }], fullLobMode: true });
    expect(r.findings).toEqual([]);
  });
});

describe('a server set up wrong (looks like RDS)', () => {
  let report: PreflightReport;
  beforeAll(async () => {
    report = await preflight(b, 'postgres', 'master', 'master-pw', { tables: [{ name: 'public.t' }] });
  });

  test('is recognised as RDS', () => {
    expect(report.server).toMatchObject({ managedBy: 'rds', walLevel: 'replica', usedReplicationSlots: 1, maxReplicationSlots: 1 });
  });

  test('wal_level replica: an error whose fix is the RDS parameter and a reboot', () => {
    const [f] = only(report, 'wal-level');
    expect(f).toMatchObject({ severity: 'error', setting: 'rds.logical_replication' });
    expect(f.message).toContain('wal_level is "replica"');
    expect(f.fix).toContain('rds.logical_replication = 1');
    expect(f.fix).toContain('reboot');
  });

  test('every replication slot taken: an error naming the slot to drop', () => {
    const [f] = only(report, 'replication-slots');
    expect(f).toMatchObject({ severity: 'error', setting: 'max_replication_slots' });
    expect(f.message).toContain('All 1 replication slots are in use (standby_1)');
    expect(f.fix).toContain("pg_drop_replication_slot('<name>') (inactive: standby_1)");
  });

  test('no WAL senders and a wal_sender_timeout under 10 s: errors', () => {
    expect(only(report, 'wal-senders')).toEqual([expect.objectContaining({ severity: 'error', setting: 'max_wal_senders' })]);
    expect(only(report, 'wal-sender-timeout')).toEqual([
      expect.objectContaining({ severity: 'error', setting: 'wal_sender_timeout', message: expect.stringContaining('5000 ms') }),
    ]);
  });

  test('a user outside rds_replication: an error with GRANT rds_replication', async () => {
    expect(only(report, 'replication-privilege')).toEqual([
      expect.objectContaining({ severity: 'error', setting: 'rds_replication', fix: expect.stringContaining('GRANT rds_replication TO master;') }),
    ]);
    const streamer = await preflight(b, 'postgres', 'streamer', 'streamer-pw', { tables: [{ name: 'public.t' }] });
    expect(streamer.server.replicationPrivilege).toBe(true);
    expect(only(streamer, 'replication-privilege')).toEqual([]);
  });
});

describe('the bundled CLI', () => {
  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', PGHOST: '127.0.0.1', PGPORT: String(a.port), PGUSER: 'dms_ok', PGPASSWORD: 'ok-pw', PGDATABASE: 'good', ...env },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  test('a database set up right: exit 0 and a human report (TLS, the default)', () => {
    const r = run(['--tables', 'public.orders,sales.*']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`127.0.0.1:${a.port} (ssl require)`);
    expect(r.stdout).toContain('Tables (3): public.orders [key: id], sales.customers [key: id], sales.regions [key: code]');
    expect(r.stdout).toContain('OK: nothing blocks CDC.');
  });

  test('errors: exit 1; --json gives the report', () => {
    const r = run(['--ssl', 'disable', '--tables', 'public.no_pk,public.lines', '--key', 'public.lines=order_id', '--json'], { PGDATABASE: 'problems' });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as PreflightReport;
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => [f.check, f.table])).toEqual(expect.arrayContaining([['primary-key', 'public.no_pk'], ['declared-key', 'public.lines']]));
    const human = run(['-d', 'problems', '-t', 'public.no_pk']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/ERROR {3}\[primary-key\] public\.no_pk has no primary key/);
    expect(human.stdout).toContain('Fix: Add a primary key');
  });

  test('connection problems: exit 2 and a message naming the problem', () => {
    const auth = run([], { PGPASSWORD: 'wrong' });
    expect(auth.code).toBe(2);
    expect(auth.stderr).toContain('authentication failed: wrong password for user "dms_ok"');

    const refused = run(['--port', String(b.port), '--host', '127.0.0.1', '--ssl', 'require'], { PGUSER: 'master', PGPASSWORD: 'master-pw', PGDATABASE: 'postgres' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('SSL refused');

    const noDb = run(['--ssl', 'disable', '-d', 'nope', '--json']);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toContain('database "nope" does not exist');
    expect(JSON.parse(noDb.stdout)).toMatchObject({ ok: false });

    const verify = run(['--ssl', 'verify-full']);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain('SSL verification');
    expect(run(['--ssl', 'verify-full', '--ca', a.certFile, '-t', 'public.orders']).code).toBe(0);
  });

  test('nothing listening: exit 2, connection refused', async () => {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    const r = run(['--port', String(port)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`connection refused by 127.0.0.1:${port}`);
  });

  test('usage problems: exit 2; the password is never an option; --help exits 0', () => {
    const pw = run(['--password', 'x']);
    expect(pw.code).toBe(2);
    expect(pw.stderr).toContain('set PGPASSWORD');
    expect(run(['--ssl', 'maybe']).code).toBe(2);
    expect(run(['--bogus']).code).toBe(2);
    expect(run(['--key', 'public.x=id', '-t', 'public.orders']).stderr).toContain('not in --tables');
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: cdk-lakehouse-cdc-preflight');
  });
});

describe('the Lambda handler', () => {
  let moto: Moto;
  let saved: NodeJS.ProcessEnv;
  let handler: (event?: unknown) => Promise<PreflightReport>;
  /** The deployed bundle, run in its own Node process with the current environment. */
  const bundled = (event: unknown): PreflightReport => {
    const bundle = path.join(__dirname, '..', 'assets', 'ingestion', 'cdc', 'preflight.lambda', 'index.js');
    const script = `require(${JSON.stringify(bundle)}).handler(${JSON.stringify(event)}).then((r) => process.stdout.write(JSON.stringify(r)))`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, env: process.env });
    if (r.status !== 0) throw new Error(`bundle failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  const secret = (overrides: Record<string, unknown> = {}) =>
    moto.createSecret(`db-${Math.random().toString(36).slice(2)}`, JSON.stringify({
      engine: 'postgres', username: 'dms_ok', password: 'ok-pw', host: '127.0.0.1', port: a.port, dbname: 'good', ...overrides,
    }));
  const configure = (config: Record<string, unknown>) => { process.env[PREFLIGHT_CONFIG_ENV] = JSON.stringify(config); };

  beforeAll(async () => {
    moto = new Moto();
    await moto.start();
    saved = { ...process.env };
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      handler = require('../src/ingestion/cdc/preflight.lambda').handler;
    });
  });

  afterAll(async () => {
    process.env = saved;
    await moto?.stop();
  });

  test('reads the secret, connects with TLS (require) and returns the report', async () => {
    configure({ secretArn: await secret(), tables: [{ name: 'public.orders', primaryKey: ['id'] }, { name: 'sales.*' }], sslMode: 'require' });
    const report = await handler({});
    expect(report).toMatchObject({ ok: true, findings: [] });
    expect(report.tables.map((t) => t.name)).toEqual(['public.orders', 'sales.customers', 'sales.regions']);
    // The deployed bundle behaves the same.
    expect(bundled({})).toMatchObject({ ok: true, findings: [] });
  });

  test('the event overrides the tables; findings are returned, not thrown; databaseName overrides the secret', async () => {
    configure({ secretArn: await secret(), databaseName: 'problems', tables: [{ name: 'public.lines' }] });
    const report = await handler({ tables: [{ name: 'public.no_pk' }] });
    expect(report.ok).toBe(false);
    expect(report.server.database).toBe('problems');
    expect(report.findings.map((f) => [f.check, f.table])).toEqual([['primary-key', 'public.no_pk']]);
  });

  test('verify-full checks the certificate: fails against an unknown CA, passes with the CA bundle', async () => {
    const arn = await secret();
    configure({ secretArn: arn, tables: [{ name: 'public.orders' }], sslMode: 'verify-full' });
    await expect(handler()).rejects.toThrow(/SSL verification of 127\.0\.0\.1:\d+ failed/);
    configure({ secretArn: arn, tables: [{ name: 'public.orders' }], sslMode: 'verify-full', caBundlePath: a.certFile });
    expect((await handler()).ok).toBe(true);
  });

  test('throws with a clear message when it cannot connect or read the secret', async () => {
    configure({ secretArn: await secret({ password: 'wrong' }), tables: [{ name: 'public.orders' }] });
    await expect(handler()).rejects.toThrow('authentication failed: wrong password for user "dms_ok"');
    configure({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf', tables: [] });
    await expect(handler()).rejects.toThrow(/cannot read the database secret .*ResourceNotFoundException/);
    configure({ secretArn: await secret({ host: undefined }), tables: [] });
    await expect(handler()).rejects.toThrow('has no host');
    delete process.env[PREFLIGHT_CONFIG_ENV];
    await expect(handler()).rejects.toThrow(`environment variable ${PREFLIGHT_CONFIG_ENV} is not set`);
  });
});

test('what the TOAST warning describes: test_decoding leaves unchanged TOASTed values out of UPDATEs unless the identity is FULL', async () => {
  await a.sql('postgres', 'create database toast');
  await a.sql('toast', 'create table public.docs (id int primary key, body text, n int)');
  const client = await a.connect('toast');
  try {
    await client.query("select pg_create_logical_replication_slot('preflight_toast', 'test_decoding')");
    await client.query('set synchronous_commit = on'); // decoding reads flushed WAL only
    await client.query("insert into public.docs values (1, (select string_agg(md5(i::text), '') from generate_series(1, 3000) i), 1)");
    await client.query('update public.docs set n = 2 where id = 1');
    await client.query('alter table public.docs replica identity full');
    await client.query('update public.docs set n = 3 where id = 1');
    const changes = (await client.query("select data from pg_logical_slot_get_changes('preflight_toast', null, null)")).rows
      .map((r: { data: string }) => r.data).filter((d: string) => d.includes('UPDATE'));
    expect(changes).toHaveLength(2);
    expect(changes[0]).toBe('table public.docs: UPDATE: id[integer]:1 body[text]:unchanged-toast-datum n[integer]:2');
    // With REPLICA IDENTITY FULL the old row carries the value; the new tuple still does not.
    expect(changes[1]).toMatch(/^table public\.docs: UPDATE: old-key: id\[integer\]:1 body\[text\]:'c4ca4238.*' n\[integer\]:2 new-tuple: .*body\[text\]:unchanged-toast-datum n\[integer\]:3$/);
  } finally {
    await client.query("select pg_drop_replication_slot('preflight_toast')").catch(() => undefined);
    await client.end();
  }
});

test('a server older than PostgreSQL 10: one server-version error, nothing else queried', async () => {
  const queries: string[] = [];
  const old = { query: async (text: string) => { queries.push(text); return { rows: [{ version: '9.6.24', num: 90624, database: 'shop', user: 'dms' }] }; } };
  const report = await runPreflight(old, { tables: [{ name: 'public.orders' }] });
  expect(queries).toHaveLength(1);
  expect(report).toMatchObject({ ok: false, errorCount: 1, tables: [], server: { versionNum: 90624, managedBy: 'unknown' } });
  expect(report.findings).toEqual([expect.objectContaining({ check: 'server-version', severity: 'error', message: expect.stringContaining('9.6.24') })]);
});
