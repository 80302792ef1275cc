// The CDC tests start throwaway PostgreSQL 15 clusters (initdb/pg_ctl). A fresh machine may not
// have the server: install Debian's postgresql-15 when we can (root or sudo), else say what to run.
const { execSync } = require('child_process');
const fs = require('fs');

const BIN = '/usr/lib/postgresql/15/bin';
if (fs.existsSync(`${BIN}/initdb`) && fs.existsSync(`${BIN}/pg_ctl`)) {
  console.log(`PostgreSQL 15 found in ${BIN}`);
  process.exit(0);
}
const root = typeof process.getuid === 'function' && process.getuid() === 0;
let sudo = '';
if (!root) {
  try {
    execSync('sudo -n true', { stdio: 'ignore' });
    sudo = 'sudo -n ';
  } catch {
    console.error(`PostgreSQL 15 is missing (${BIN}/initdb) and this user cannot install packages. Run: sudo apt-get install -y postgresql-15`);
    process.exit(1);
  }
}
console.log('Installing PostgreSQL 15 from Debian packages (for the CDC preflight and pull tests)');
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execSync(`${sudo}apt-get update -qq`, { stdio: 'inherit', env });
execSync(`${sudo}apt-get install -y -qq --no-install-recommends postgresql-15`, { stdio: 'inherit', env });
