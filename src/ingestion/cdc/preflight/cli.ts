/**
 * `cdk-lakehouse-cdc-preflight`: checks a source PostgreSQL for what AWS DMS change data capture
 * needs, before a CdcIngestion stack is deployed. Bundled (with `pg`) into
 * assets/ingestion/cdc/preflight/cli/index.js, the package's `bin`.
 *
 * Exit codes: 0 no errors (warnings may remain), 1 errors found, 2 usage or connection problem.
 */
import { parseArgs } from 'util';
// pg is a devDependency on purpose: esbuild bundles it into the CLI (assets/.../cli/index.js).
// eslint-disable-next-line import/no-extraneous-dependencies
import { Client } from 'pg';
import { formatReport, parseTablePattern, runPreflight } from './checks';
import { ConnectionTarget, describeConnectionError, PreflightTableConfig, SSL_MODES, sslOptions } from './config';

export const USAGE = `Usage: cdk-lakehouse-cdc-preflight [options]

Checks a PostgreSQL database for what AWS DMS change data capture (CDC) needs and says what to fix.

Connection (standard libpq environment variables, or options; the password only from PGPASSWORD
or ~/.pgpass, never as an option):
  -h, --host HOST          server host                      (PGHOST, default localhost)
  -p, --port PORT          server port                      (PGPORT, default 5432)
  -U, --user USER          user DMS connects as             (PGUSER)
  -d, --database NAME      database DMS reads               (PGDATABASE, default: the user name)
      --ssl MODE           require | verify-full | disable  (PGSSLMODE, default require)
      --ca FILE            CA bundle for verify-full, e.g. the RDS global bundle (PGSSLROOTCERT)
      --connect-timeout S  seconds to wait for the connection (default 10)

What to check:
  -t, --tables LIST        tables the DMS task selects, comma-separated schema.table; * (or %)
                           is a wildcard: "public.orders,sales.*" (default: every table)
      --key TABLE=COLS     the key the merge uses for TABLE, e.g. --key public.orders=id or
                           --key sales.lines=order_id,line_no (repeatable)
      --full-lob-mode      the DMS task uses full LOB mode (no LOB truncation warnings)
      --lob-max-size-kb N  the task's limited LOB size in KB (default 32)

Output:
      --json               the report as JSON on stdout
      --help               this text

Exit status: 0 ready (warnings may remain), 1 errors found, 2 usage or connection problem.
`;

class UsageError extends Error {}

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'host': { type: 'string', short: 'h' },
        'port': { type: 'string', short: 'p' },
        'user': { type: 'string', short: 'U' },
        'database': { type: 'string', short: 'd' },
        'ssl': { type: 'string' },
        'ca': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'tables': { type: 'string', short: 't' },
        'key': { type: 'string', multiple: true },
        'full-lob-mode': { type: 'boolean' },
        'lob-max-size-kb': { type: 'string' },
        'json': { type: 'boolean' },
        'help': { type: 'boolean' },
        'password': { type: 'string' },
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function positiveInt(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${option} must be a positive whole number, got "${value}"`);
  return Number(value);
}

/** Runs the CLI with arguments and environment; returns the exit code and output (no process.exit). */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  let json = false;
  try {
    const args = parse(argv);
    json = !!args.json;
    if (args.help) return { code: 0, stdout: USAGE, stderr: '' };
    if (args.password !== undefined) {
      throw new UsageError('the password is not taken as an option (it would show in the process list and shell history): set PGPASSWORD or use ~/.pgpass');
    }

    const sslMode = args.ssl ?? env.PGSSLMODE ?? 'require';
    if (!SSL_MODES.includes(sslMode)) throw new UsageError(`--ssl must be one of ${SSL_MODES.join(', ')}, got "${sslMode}"`);
    const port = positiveInt(args.port ?? env.PGPORT ?? '5432', '--port');
    const user = args.user ?? env.PGUSER;
    if (!user) throw new UsageError('no user: pass --user or set PGUSER');
    const target: ConnectionTarget = {
      host: args.host ?? env.PGHOST ?? 'localhost',
      port,
      user,
      database: args.database ?? env.PGDATABASE ?? user,
      sslMode,
    };
    const timeoutSeconds = positiveInt(args['connect-timeout'] ?? '10', '--connect-timeout');

    const tables: PreflightTableConfig[] = (args.tables ?? '*.*').split(',').map((t) => t.trim()).filter(Boolean).map((name) => ({ name }));
    for (const t of tables) {
      try {
        parseTablePattern(t.name);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    for (const key of args.key ?? []) {
      const m = /^([^=]+)=(.+)$/.exec(key);
      if (!m) throw new UsageError(`--key must look like schema.table=col1,col2, got "${key}"`);
      const columns = m[2].split(',').map((c) => c.trim()).filter(Boolean);
      const i = tables.findIndex((t) => t.name === m[1].trim());
      if (i < 0) throw new UsageError(`--key names ${m[1]}, which is not in --tables`);
      tables[i] = { name: tables[i].name, primaryKey: columns };
    }
    const lobMaxSizeKb = args['lob-max-size-kb'] === undefined ? undefined : positiveInt(args['lob-max-size-kb'], '--lob-max-size-kb');

    let ssl;
    try {
      ssl = sslOptions(sslMode, args.ca ?? env.PGSSLROOTCERT);
    } catch (e) {
      throw new UsageError(`cannot read the CA bundle: ${(e as Error).message}`);
    }
    const client = new Client({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      password: env.PGPASSWORD,
      ssl,
      connectionTimeoutMillis: timeoutSeconds * 1000,
      application_name: 'cdk-lakehouse-cdc-preflight',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => undefined);
      const message = `cdk-lakehouse-cdc-preflight: ${describeConnectionError(e, target)}\n`;
      return { code: 2, stdout: json ? JSON.stringify({ ok: false, error: message.trim() }) + '\n' : '', stderr: message };
    }
    try {
      const report = await runPreflight(client, { tables, fullLobMode: !!args['full-lob-mode'], lobMaxSizeKb });
      const header = `${target.host}:${target.port} (ssl ${sslMode})\n`;
      return { code: report.ok ? 0 : 1, stdout: json ? JSON.stringify(report, null, 2) + '\n' : header + formatReport(report), stderr: '' };
    } catch (e) {
      const message = `cdk-lakehouse-cdc-preflight: the checks failed on ${target.host}:${target.port}: ${(e as Error).message}\n`;
      return { code: 2, stdout: json ? JSON.stringify({ ok: false, error: message.trim() }) + '\n' : '', stderr: message };
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const message = `cdk-lakehouse-cdc-preflight: ${e.message}\nRun with --help for usage.\n`;
    return { code: 2, stdout: json ? JSON.stringify({ ok: false, error: e.message }) + '\n' : '', stderr: message };
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (r) => {
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    },
    (e) => {
      process.stderr.write(`cdk-lakehouse-cdc-preflight: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 2;
    },
  );
}
