/**
 * Throwaway PostgreSQL 15 clusters for jest: `initdb` into a temp dir, `postgres` on a free
 * loopback port with its unix socket in the same temp dir, stopped and removed on teardown.
 *
 * The binaries come from the Debian packages (`apt-get install -y postgresql-15`), found in
 * /usr/lib/postgresql/15/bin (or PG_BIN). initdb refuses to run as root, so under root every
 * server command runs as the `postgres` OS user (`runuser -u postgres --`) on a temp dir chowned
 * to it; otherwise the commands run as the current user. Each test file starts its own clusters
 * (jest runs files in parallel workers): no fixed ports, no shared directories.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import { AddressInfo, createServer } from 'net';
import * as os from 'os';
import * as path from 'path';
import { Client, ClientConfig } from 'pg';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** True when the PostgreSQL binaries are installed (tests can skip with a clear reason otherwise). */
export function postgresAvailable(): boolean {
  return fs.existsSync(path.join(PG_BIN, 'initdb')) && fs.existsSync(path.join(PG_BIN, 'postgres'));
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Clusters started and not stopped yet: killed if the process exits without its teardown. */
const running = new Set<PostgresCluster>();
process.once('exit', () => running.forEach((c) => c.kill()));

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The command line to run a server binary as the right OS user. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  const full = path.join(PG_BIN, bin);
  return isRoot ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, args];
}

export interface PostgresOptions {
  /** Server settings passed as `-c name=value` (e.g. `{ wal_level: 'logical' }`). */
  readonly settings?: Record<string, string>;
  /** Serve TLS with a fresh self-signed certificate for 127.0.0.1 / localhost (see `certFile`). */
  readonly ssl?: boolean;
}

/** One PostgreSQL cluster; the bootstrap superuser is `postgres` with password `postgres`. */
export class PostgresCluster {
  public readonly host = '127.0.0.1';
  public readonly superuser = 'postgres';
  public readonly superuserPassword = 'postgres';
  public port = 0;
  public dir = '';
  /** The server's self-signed certificate (PEM), when started with `ssl`. */
  public certFile = '';
  private proc?: ChildProcess;
  private log = '';

  constructor(private readonly options: PostgresOptions = {}) {}

  /** Starts the cluster; on failure, whatever was started is stopped and removed again. */
  public async start(): Promise<this> {
    try {
      return await this.startOrThrow();
    } catch (e) {
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  private async startOrThrow(): Promise<this> {
    if (!postgresAvailable()) {
      throw new Error(`PostgreSQL 15 binaries not found in ${PG_BIN} (install them with: apt-get install -y postgresql-15)`);
    }
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-lakehouse-pg-'));
    fs.chmodSync(this.dir, 0o700);
    const data = path.join(this.dir, 'data');
    const pwfile = path.join(this.dir, 'pwfile');
    fs.writeFileSync(pwfile, `${this.superuserPassword}\n`);
    const tls: Record<string, string> = {};
    if (this.options.ssl) {
      this.certFile = path.join(this.dir, 'server.crt');
      const keyFile = path.join(this.dir, 'server.key');
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', this.certFile,
      ], { stdio: 'pipe' });
      fs.chmodSync(keyFile, 0o600);
      Object.assign(tls, { ssl: 'on', ssl_cert_file: this.certFile, ssl_key_file: keyFile });
    }
    if (isRoot) execFileSync('chown', ['-R', 'postgres:postgres', this.dir]);

    const [initCmd, initArgs] = asServerUser('initdb', [
      '-D', data, '-U', this.superuser, `--pwfile=${pwfile}`, '--auth=scram-sha-256',
      '--encoding=UTF8', '--locale=C', '--no-sync',
    ]);
    execFileSync(initCmd, initArgs, { stdio: 'pipe' });
    // Loopback TCP only, password auth for every user (as on RDS), replication connections too.
    fs.writeFileSync(path.join(data, 'pg_hba.conf'), [
      'local all all scram-sha-256',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host replication all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'));

    this.port = await freePort();
    const settings: Record<string, string> = {
      listen_addresses: this.host,
      port: String(this.port),
      unix_socket_directories: this.dir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: '16MB',
      max_connections: '40',
      ...tls,
      ...this.options.settings,
    };
    const args = ['-D', data];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const [cmd, cmdArgs] = asServerUser('postgres', args);
    this.proc = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.proc.stdout!.on('data', (d) => (this.log += d));
    this.proc.stderr!.on('data', (d) => (this.log += d));

    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`postgres exited (${this.proc.exitCode}): ${this.log}`);
      try {
        const client = await this.connect();
        await client.end();
        return this;
      } catch {
        // not accepting connections yet
      }
      if (Date.now() > deadline) throw new Error(`postgres did not start: ${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Client settings for a user (default: the superuser) and database (default: postgres). */
  public config(user = this.superuser, password = this.superuserPassword, database = 'postgres'): ClientConfig {
    return { host: this.host, port: this.port, user, password, database, ssl: false };
  }

  /** A connected client; the caller ends it. */
  public async connect(database = 'postgres', user = this.superuser, password = this.superuserPassword): Promise<Client> {
    const client = new Client(this.config(user, password, database));
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** Runs SQL (several statements allowed) as the superuser in a database. */
  public async sql(database: string, text: string): Promise<void> {
    const client = await this.connect(database);
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  }

  /** The postmaster's PID, from its pid file. */
  private postmasterPid(): number {
    const pidFile = path.join(this.dir, 'data', 'postmaster.pid');
    try {
      return Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    } catch {
      return NaN;
    }
  }

  /** Last resort when the test process exits without teardown: immediate shutdown, no waiting. */
  public kill(): void {
    const pid = this.postmasterPid();
    try {
      if (pid > 0) process.kill(pid, 'SIGQUIT');
      else this.proc?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  public async stop(): Promise<void> {
    running.delete(this);
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      // SIGINT to the postmaster itself (runuser may not pass signals on): fast shutdown, which
      // disconnects clients instead of waiting for them.
      const pid = this.postmasterPid();
      try {
        if (pid > 0) process.kill(pid, 'SIGINT');
        else this.proc.kill('SIGINT');
      } catch {
        this.proc.kill('SIGINT');
      }
      const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
