#!/usr/bin/env node
// The Java and Go packages, used as a user would (`npx projen test:consumers`, part of the test
// command). Needs the compiled .jsii (`npx projen compile`). This script
//   0. builds the jar (jsii-pacmak --target java, Maven) and the Go module (jsii-pacmak --target go)
//      into dist/java and dist/go,
//   1. synthesizes consumers/app.ts (TypeScript, the reference) in a project of its own with the
//      npm tarball (dist/js) installed, as a user of the npm package would,
//   2. builds consumers/java with Maven (aws-cdk-lib from Maven Central, cdk-lakehouse from
//      dist/java as a file repository) and runs it,
//   3. builds consumers/go with the Go toolchain (aws-cdk-go from the Go module proxy,
//      cdk-lakehouse from dist/go through a replace directive) and runs it,
// and fails unless each template has the expected resources and equals the TypeScript one.
// Each app is built in a temporary copy, so the working tree stays clean.
//
// Usage: node consumers/run.js [java] [go]   (both when none is named)
// Caches: Maven uses MAVEN_REPO (default ~/.m2/repository) for jsii-pacmak's build and the app's,
// Go uses GOMODCACHE / GOCACHE as usual; point them at empty directories to measure a cold run.
'use strict';
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf-8'));
const CDK_VERSION = pkg.devDependencies['aws-cdk-lib'];
const STACK = 'Consumer';

const MAVEN_REPO = process.env.MAVEN_REPO ?? path.join(os.homedir(), '.m2', 'repository');
const PACMAK = path.join(ROOT, 'node_modules/.bin/jsii-pacmak');

// What the app must create, whatever the language (at least): the lake's key, its zone and log
// buckets, its three Glue databases, the Iceberg table's three optimizers, the Athena workgroup.
const EXPECTED = {
  'AWS::KMS::Key': 1,
  'AWS::S3::Bucket': 4,
  'AWS::Glue::Database': 3,
  'AWS::Glue::TableOptimizer': 3,
  'AWS::Athena::WorkGroup': 1,
};

function runSync(cmd, args, opts) {
  const started = Date.now();
  process.stdout.write(`$ ${cmd} ${args.join(' ')}\n`);
  execFileSync(cmd, args, { stdio: 'inherit', ...opts });
  return (Date.now() - started) / 1000;
}

/** Runs a command, its output prefixed with the language; resolves to its wall time in seconds. */
function run(lang, cmd, args, opts) {
  const started = Date.now();
  process.stdout.write(`[${lang}] $ ${cmd} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const relay = (stream, out) => {
      let rest = '';
      stream.on('data', (chunk) => {
        const lines = (rest + chunk.toString('utf-8')).split('\n');
        rest = lines.pop();
        for (const line of lines) out.write(`[${lang}] ${line}\n`);
      });
      stream.on('end', () => { if (rest) out.write(`[${lang}] ${rest}\n`); });
    };
    relay(child.stdout, process.stdout);
    relay(child.stderr, process.stderr);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve((Date.now() - started) / 1000) : reject(new Error(`[${lang}] ${cmd} exited with ${code}`))));
  });
}

function template(outdir) {
  return JSON.parse(fs.readFileSync(path.join(outdir, `${STACK}.template.json`), 'utf-8'));
}

function check(lang, actual, reference) {
  const counts = {};
  for (const r of Object.values(actual.Resources)) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
  const problems = [];
  for (const [type, n] of Object.entries(EXPECTED)) {
    if ((counts[type] ?? 0) < n) problems.push(`${type}: expected at least ${n}, got ${counts[type] ?? 0}`);
  }
  if (reference) {
    const a = actual.Resources; const b = reference.Resources;
    const ids = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    const differ = ids.filter((id) => JSON.stringify(a[id]) !== JSON.stringify(b[id]));
    if (differ.length) problems.push(`resources that differ from the TypeScript app: ${differ.join(', ')}`);
    if (JSON.stringify(actual) !== JSON.stringify(reference) && !differ.length) problems.push('the template differs from the TypeScript app outside Resources');
  }
  if (problems.length) throw new Error(`${lang} consumer: ${problems.join('; ')}`);
  console.log(`${lang} consumer: ${Object.keys(actual.Resources).length} resources, as expected${reference ? ' and identical to the TypeScript app' : ''}`);
}

function typescript(work) {
  // The TypeScript twin as a user runs it: in a project of its own, with the npm tarball jsii built
  // (dist/js, from test:python) installed beside aws-cdk-lib and constructs from the registry.
  const tarballs = fs.existsSync(path.join(ROOT, 'dist/js')) ? fs.readdirSync(path.join(ROOT, 'dist/js')).filter((f) => f.endsWith('.jsii.tgz')) : [];
  if (tarballs.length !== 1) throw new Error(`expected one npm tarball in dist/js, found ${tarballs}: run \`npx projen test:python\` (or jsii-pacmak --target js) first`);
  const dir = path.join(work, 'ts');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  fs.writeFileSync(path.join(dir, 'app.ts'), fs.readFileSync(path.join(__dirname, 'app.ts'), 'utf-8').replace("from '../src'", "from 'cdk-lakehouse'"));
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'commonjs', target: 'es2022', skipLibCheck: true } }));
  const i = runSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(ROOT, 'dist/js', tarballs[0]),
    `aws-cdk-lib@${CDK_VERSION}`, `constructs@${pkg.devDependencies.constructs}`], { cwd: dir });
  const outdir = path.join(work, 'ts.out');
  // Type-checked (not transpile-only), as a user's build would.
  const s = runSync(path.join(ROOT, 'node_modules/.bin/ts-node'), ['app.ts'], { cwd: dir, env: { ...process.env, CDK_OUTDIR: outdir } });
  console.log(`typescript consumer: npm install ${i.toFixed(0)} s, synth ${s.toFixed(0)} s`);
  const t = template(outdir);
  check('TypeScript', t);
  return t;
}

async function java(work, reference) {
  const java = pkg.jsii.targets.java;
  const repo = path.join(ROOT, 'dist/java');
  fs.rmSync(repo, { recursive: true, force: true });
  // The jar as `npx projen package:java` builds it, less its javadoc jar (the slowest part of the
  // Maven build, and nothing an app compiles against); Maven's repository is shared with the app.
  const p = await run('java', PACMAK, ['--target', 'java', `--maven-local-repository=${MAVEN_REPO}`, '--mvn-define=maven.javadoc.skip=true'], { cwd: ROOT });
  const jar = path.join(repo, ...java.maven.groupId.split('.'), java.maven.artifactId, pkg.version, `${java.maven.artifactId}-${pkg.version}.jar`);
  if (!fs.existsSync(jar)) throw new Error(`jsii-pacmak wrote no ${jar}`);
  const dir = path.join(work, 'java');
  fs.cpSync(path.join(__dirname, 'java'), dir, { recursive: true });
  const props = [`-Dcdk-lakehouse.groupId=${java.maven.groupId}`, `-Dcdk-lakehouse.artifactId=${java.maven.artifactId}`,
    `-Dcdk-lakehouse.version=${pkg.version}`, `-Dcdk-lakehouse.repository=${new URL(`file://${repo}`).href}`, `-Daws-cdk-lib.version=${CDK_VERSION}`];
  const t = await run('java', 'mvn', ['-B', '-q', `-Dmaven.repo.local=${MAVEN_REPO}`, ...props, 'compile', 'dependency:build-classpath', '-Dmdep.outputFile=classpath.txt'], { cwd: dir });
  const classpath = `target/classes${path.delimiter}${fs.readFileSync(path.join(dir, 'classpath.txt'), 'utf-8').trim()}`;
  const outdir = path.join(work, 'java.out');
  const s = await run('java', 'java', ['-cp', classpath, 'consumer.App'], { cwd: dir, env: { ...process.env, CDK_OUTDIR: outdir } });
  console.log(`java consumer: jsii-pacmak ${p.toFixed(0)} s, app build ${t.toFixed(0)} s, synth ${s.toFixed(0)} s`);
  check('Java', template(outdir), reference);
}

async function go(work, reference) {
  const target = pkg.jsii.targets.go;
  fs.rmSync(path.join(ROOT, 'dist/go'), { recursive: true, force: true });
  // Source only: jsii-pacmak's own Go build would resolve the module's requirements as written,
  // and one of them is not on the Go module proxy (see CONSUMER_GO_SCHEMA below); the app's build
  // compiles the module instead.
  const p = await run('go', PACMAK, ['--target', 'go', '--code-only'], { cwd: ROOT });
  const pkgDir = fs.readdirSync(path.join(ROOT, 'dist/go')).filter((d) => fs.existsSync(path.join(ROOT, 'dist/go', d, 'go.mod')));
  if (pkgDir.length !== 1) throw new Error(`expected one Go module under dist/go, found ${pkgDir}: run \`npx projen package:go\` first`);
  const modDir = path.join(ROOT, 'dist/go', pkgDir[0]);
  const modulePath = fs.readFileSync(path.join(modDir, 'go.mod'), 'utf-8').match(/^module (\S+)/m)[1];
  if (!modulePath.startsWith(target.moduleName)) throw new Error(`dist/go module ${modulePath} is not under ${target.moduleName}`);
  const dir = path.join(work, 'go');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'main.go'), fs.readFileSync(path.join(__dirname, 'go/main.go'), 'utf-8')
    .replace('"github.com/cdk-lakehouse/cdk-lakehouse-go/cdklakehouse"', `"${modulePath}"`));
  const required = fs.readFileSync(path.join(modDir, 'go.mod'), 'utf-8');
  const version = (mod) => required.match(new RegExp(`${mod.replace(/[/.]/g, '\\$&')} (v\\S+)`))[1];
  fs.writeFileSync(path.join(dir, 'go.mod'), [
    'module consumer', '', 'go 1.25', '',
    'require (',
    `\tgithub.com/aws/aws-cdk-go/awscdk/v2 v${CDK_VERSION}`,
    `\tgithub.com/aws/jsii-runtime-go ${version('github.com/aws/jsii-runtime-go')}`,
    `\t${modulePath} v0.0.0`,
    ')', '',
    `replace ${modulePath} => ${modDir}`, '',
    // jsii-pacmak asks for the cloud-assembly-schema-go version matching the npm package it found
    // (53.28.0); the Go module proxy serves 53.25.0, the version aws-cdk-go v2.257.0 itself requires.
    ...(process.env.CONSUMER_GO_SCHEMA ? [`replace github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v53 => github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v53 ${process.env.CONSUMER_GO_SCHEMA}`, ''] : []),
  ].join('\n'));
  const env = { ...process.env, GOFLAGS: `${process.env.GOFLAGS ?? ''} -trimpath -mod=mod`.trim() };
  const t = await run('go', 'go', ['mod', 'tidy'], { cwd: dir, env });
  const b = await run('go', 'go', ['build', '-p', String(os.cpus().length), '-o', 'app', '.'], { cwd: dir, env });
  const outdir = path.join(work, 'go.out');
  const s = await run('go', './app', [], { cwd: dir, env: { ...process.env, CDK_OUTDIR: outdir } });
  console.log(`go consumer: jsii-pacmak ${p.toFixed(0)} s, go mod tidy ${t.toFixed(0)} s, build ${b.toFixed(0)} s, synth ${s.toFixed(0)} s`);
  check('Go', template(outdir), reference);
}

// Java and Go run side by side: a cold run is mostly Maven's downloads and javac on one side and
// the Go compiler on the other, so together they take less wall time than one after the other.
async function main() {
  const langs = process.argv.slice(2).length ? process.argv.slice(2) : ['java', 'go'];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-lakehouse-consumers-'));
  const started = Date.now();
  try {
    const reference = typescript(work);
    const results = await Promise.allSettled([
      langs.includes('java') ? java(work, reference) : undefined,
      langs.includes('go') ? go(work, reference) : undefined,
    ]);
    const failed = results.filter((r) => r.status === 'rejected');
    for (const f of failed) console.error(f.reason instanceof Error ? f.reason.message : f.reason);
    console.log(`consumers: ${langs.join(' + ')} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (failed.length) process.exitCode = 1;
  } finally {
    if (!process.env.CONSUMERS_KEEP) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
