import { awscdk, javascript, JsonFile } from 'projen';

// Versions measured to work together on the project's machines (../shared/TOOLCHAIN.md):
// newer aws-cdk-lib writes a cloud-assembly schema integ-runner 2.197.x cannot read.
const CDK_VERSION = '2.257.0';

// THE repository: set it here, once. Everything else derives from it: package.json's repository,
// the Go module path (published by publib into a sibling `<repo>-go` repository), and the absolute
// links to the guides in README.md (test/packaging/readme-links.test.ts fails until README.md's
// links match this value). The owner below is a placeholder until the project has a home.
const REPOSITORY = 'https://github.com/cdk-lakehouse/cdk-lakehouse';
const GO_MODULE = `${REPOSITORY.replace(/^https:\/\//, '')}-go`;

// How every bundle (Lambda handlers and the CDC preflight CLI) is built by esbuild.
// (projen passes sourcesContent only when true, hence the explicit esbuild flag.)
const BUNDLING = { externals: [], minify: true, sourcemap: true, esbuildArgs: { '--sources-content': 'false' } };

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-lakehouse',
  description:
    'Composable AWS CDK L3 constructs for data lakes: S3 + Glue + Iceberg zones, CDC, streaming and API ingestion, Athena serving and pipeline observability.',
  author: 'cdk-lakehouse maintainers',
  authorAddress: 'maintainers@cdk-lakehouse.dev',
  repositoryUrl: `${REPOSITORY}.git`,
  license: 'Apache-2.0',
  keywords: ['aws-cdk', 'cdk', 'data-lake', 'lakehouse', 'iceberg', 'glue', 'athena', 'awscdk'],

  cdkVersion: CDK_VERSION,
  constructsVersion: '10.5.1',
  jsiiVersion: '~6.0.0',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,

  // The check that runs here is `.ci/run`; GitHub gets only the release workflow (versions from
  // conventional commits, CHANGELOG, publib jobs per registry). docs/releasing.md says how.
  github: true,
  release: true,
  buildWorkflow: false,
  depsUpgrade: false,
  pullRequestTemplate: false,
  // 0.x until the API has been used by real stacks: breaking changes bump the minor version and
  // a 1.0 needs an explicit decision (change majorVersion), never an accident of a commit message.
  majorVersion: 0,
  stability: 'experimental',
  releaseToNpm: true,

  // Handlers run on a current, explicit Node runtime (a region-dependent "latest" trips cdk-nag
  // in environment-agnostic stacks); the AWS SDK v3 ships with it and stays external.
  // The AWS SDK is bundled too (not left to the runtime's copy): handlers run the SDK version
  // their tests ran, and libraries such as @aws-sdk/lib-storage are there for sure.
  // Bundles are minified (a smaller package and a faster cold start) with an external source map
  // beside each one (`index.js.map`, no sources inlined), so a stack trace can be mapped back to
  // the TypeScript: at run time with NODE_OPTIONS=--enable-source-maps, or offline.
  lambdaOptions: { runtime: awscdk.LambdaRuntime.NODEJS_24_X, bundlingOptions: BUNDLING },

  publishToPypi: {
    distName: 'cdk-lakehouse',
    module: 'cdk_lakehouse',
  },
  // Java and Go packages are built and used by a small app each in `npx projen test:consumers`.
  publishToMaven: {
    javaPackage: 'dev.cdklakehouse',
    mavenGroupId: 'dev.cdk-lakehouse',
    mavenArtifactId: 'cdk-lakehouse',
  },
  publishToGo: {
    moduleName: GO_MODULE,
  },
  // .NET is not published: no NuGet feed is reachable where the project is tested, so a .NET
  // package could not be proven to work (README "Install", docs/releasing.md).

  devDeps: [
    'cdk-nag@~2.38.2',
    '@aws-cdk/integ-tests-alpha@2.245.0-alpha.0',
    '@aws-cdk/integ-runner@2.197.10',
    'cdk-dia@0.12.3',
    // ApiPullIngestion puller (bundled by esbuild into the Lambda asset).
    '@aws-sdk/client-s3@^3',
    '@aws-sdk/lib-storage@^3',
    '@aws-sdk/client-secrets-manager@^3',
    '@aws-sdk/client-dynamodb@^3',
    '@streamparser/json@^0.0.22',
    '@types/aws-lambda@^8',
    // StreamingDedupIngestion handlers (bundled by esbuild into the Lambda assets).
    '@aws-sdk/client-firehose@^3',
    '@aws-sdk/client-kinesis@^3',
    '@aws-lambda-powertools/metrics@^2',
    '@aws-lambda-powertools/logger@^2',
    // CdcIngestion preflight (bundled by esbuild into its Lambda asset and its CLI).
    'pg@^8',
    // Generative tests (issue 14) and offline IAM evaluation of synthesized policies (issue 12).
    'fast-check@^4',
    '@cloud-copilot/iam-simulate@^0.1',
    '@types/pg@^8',
  ],

  tsconfigDev: {
    include: ['../examples/**/*.ts', '../integ/**/*.ts', '../benchmarks/**/*.ts'],
    compilerOptions: {},
  },
  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'integ', 'examples', 'benchmarks', '.projenrc.ts', 'projenrc'],
  },
  jestOptions: {
    jestConfig: {
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/cdk.out/', '/integ/'],
      // jest's default on 2 cores is one worker (cores - 1); synthesis is CPU-bound and each suite
      // starts its own DynamoDB Local / PostgreSQL on free ports, so two workers use both cores.
      maxWorkers: 2,
    },
  },

  gitignore: [
    'cdk.out/',
    '/integ/cdk-integ.out.*',
    '/integ/*.snapshot/asset.*',
    '/benchmarks/out/',
    '.venv/',
    '__pycache__/',
    '.jsii.tabl.json',
    '/docs/*.dot',
  ],
});

// The npm tarball (and so the wheel and the jar, which embed it) carries the compiled library,
// its Lambda bundles and Glue scripts, and nothing of the workspace around it.
for (const pattern of ['/.venv/', '/cdk.out/', '/integ/', '/examples/', '/benchmarks/', '/docs/', '/build-tools/',
  '/rosetta/', '/requirements-dev.txt', '/.ci/', '__pycache__/', '/test-reports/', '/.jsii.tabl.json',
  '/consumers/', '/CONTRIBUTING.md', '/.compatignore']) {
  project.addPackageIgnore(pattern);
}

// eslint's project service looks for the nearest tsconfig.json: give each dev folder one that
// extends the dev settings.
for (const dir of ['examples', 'integ', 'benchmarks']) {
  new JsonFile(project, `${dir}/tsconfig.json`, {
    obj: { extends: '../test/tsconfig.json', include: ['**/*.ts'], exclude: ['**/*.snapshot/**', 'out/**'] },
  });
}

// The CDC preflight CLI: one self-contained file (pg bundled), run with
// `npx cdk-lakehouse-cdc-preflight` from the installed package.
project.bundler.addBundle('./src/ingestion/cdc/preflight/cli.ts', {
  ...BUNDLING,
  platform: 'node',
  target: 'node20',
  outfile: 'index.js',
  banner: '#!/usr/bin/env node',
  executable: true,
});
project.addBins({ 'cdk-lakehouse-cdc-preflight': 'assets/ingestion/cdc/preflight/cli/index.js' });

// Third-party licence notices: beside each bundle, a THIRD_PARTY_NOTICES.txt with the name,
// version, licence and licence text of every npm package esbuild put into it (the AWS SDK, pg,
// @streamparser/json, Powertools...). It ships in the asset, so a deployed function carries it.
project.tasks.tryFind('bundle')!.exec('node build-tools/third-party-notices.js');
// The Deequ jar MergeJob ships with `--extra-jars` when a table declares quality rules: fetched from
// Maven Central into assets/glue/ (SHA-256 pinned) so the npm package carries it.
project.tasks.tryFind('bundle')!.exec('node build-tools/fetch-deequ.js');

// Glue scripts (src/**/glue/*.py) ship beside the compiled constructs that deploy them.
project.postCompileTask.exec('node build-tools/copy-glue-scripts.js');

// Every @example and the README's TypeScript must compile (strict, with rosetta/ fixtures)
// before docs are generated; API.md is TypeScript, docs/API.python.md the Python translation.
project.postCompileTask.prependExec('jsii-rosetta extract --strict .jsii');
project.tasks.tryFind('docgen')!.exec('jsii-docgen -l python -o docs/API.python.md');

// ---------------------------------------------------------------------------------------------
// Tasks behind the README's two commands.

// Main job: synthesize the reference lake into cdk.out/ with no AWS account and summarize it.
const synthExample = project.addTask('synth:example', {
  description: 'Synthesize examples/reference-lake.ts into cdk.out/ and print a summary',
});
// The constructs' Lambda bundles are build outputs: a fresh clone has none until bundle runs.
const bundleTask = project.tasks.tryFind('bundle');
if (bundleTask) synthExample.spawn(bundleTask);
synthExample.exec('rm -rf cdk.out');
synthExample.exec('ts-node --project test/tsconfig.json examples/reference-lake.ts');
synthExample.exec('ts-node --project test/tsconfig.json examples/synth-summary.ts cdk.out');

// Integ tests: integ-runner compares committed snapshots when no AWS credentials exist.
const integVerify = project.addTask('integ:verify', {
  description: 'Verify the committed integ snapshots offline (no deployment)',
  exec: 'integ-runner --directory integ --language typescript --parallel-regions us-east-1',
});
project.addTask('integ:update', {
  description: 'Re-write the integ snapshots without deploying (after an intended template change)',
  exec: 'integ-runner --directory integ --language typescript --parallel-regions us-east-1 --update-on-failed --dry-run --force',
});

// Python: build the jsii package (npm tarball + wheel), install the wheel into a virtualenv with
// the Python test tools, and run the Python suites (the reference lake twin, package contents).
const VENV = '.venv';
const pythonEnv = project.addTask('python:env', {
  description: `Create ${VENV} with the Python packages the tests need (requirements-dev.txt)`,
});
// Idempotent: an existing venv keeps its packages.
pythonEnv.exec(`python3 -m venv ${VENV}`);
pythonEnv.exec(`${VENV}/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt`);

const testPython = project.addTask('test:python', {
  description: 'Build the Python package with jsii-pacmak, install it into .venv and run the pytest suites',
});
testPython.spawn(project.compileTask);
testPython.spawn(project.postCompileTask);
testPython.exec('rm -rf dist/js dist/python && jsii-pacmak --target js --target python');
testPython.spawn(pythonEnv);
testPython.exec(`${VENV}/bin/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/python/*.whl`);
// Two pytest workers (pytest-xdist), one file each at a time: each has its own Spark session and its
// own PostgreSQL cluster (free ports, temporary folders), and Spark's driver work on small tables is
// mostly single-threaded, so two processes use the 2 cores better than one (CONTRIBUTING.md, Timings).
testPython.exec(`${VENV}/bin/python -m pytest -q -n 2 --dist loadfile examples/python test/python`);

// cfn-lint (from .venv) on the synthesized reference lake.
const cfnLint = project.addTask('cfn-lint', {
  description: 'Run cfn-lint on the synthesized reference lake',
});
cfnLint.spawn(pythonEnv);
cfnLint.spawn(synthExample);
// Two warnings come from aws-cdk-lib itself and are harmless: W3005 (a DependsOn that a GetAtt
// already implies: how CDK orders roles before their users) and W7001 (the Firehose module's
// region CIDR mapping, added even when unused). Every other warning fails the test.
cfnLint.exec(`${VENV}/bin/cfn-lint --format parseable --ignore-checks W3005 W7001 -- cdk.out/*.template.json`);

// Architecture diagram of the reference lake (needs Debian's graphviz: apt-get install graphviz).
const diagram = project.addTask('diagram', {
  description: 'Regenerate docs/reference-lake.png from the synthesized reference lake (cdk-dia + graphviz)',
});
diagram.spawn(synthExample);
diagram.exec('cdk-dia --tree cdk.out/tree.json --target docs/reference-lake.png');

const benchmark = project.addTask('benchmark', {
  description: 'Synthesize lakes with 1, 10 and 100 Iceberg tables and print time, memory and resources',
  exec: 'ts-node --project test/tsconfig.json benchmarks/synth-scale.ts',
});
benchmark.exec('ts-node --project test/tsconfig.json benchmarks/cdc-scale.ts');
project.addTask('benchmark:cdc-merge', {
  description: 'Merge 1 M change rows over 100 k keys into Iceberg with local Spark, beside a full rewrite (minutes)',
  exec: `${VENV}/bin/python benchmarks/cdc_merge.py`,
});

// ---------------------------------------------------------------------------------------------
// Releasing (docs/releasing.md).

// API compatibility with the previous release (build-tools/compat.sh): jsii-diff against the npm
// package of the newest release tag (v*). Before the first release there is no tag and so nothing
// to compare with: the task says so and succeeds. While the package is 0.x and its stability
// `experimental`, breaking changes are reported, not fatal (--error-on prod); at 1.0 they fail.
project.removeTask('compat');
const compat = project.addTask('compat', {
  description: 'API compatibility check (jsii-diff) against the previous release, once one exists',
});
compat.exec('sh build-tools/compat.sh');

// The Go package is source (publib pushes dist/go to the Go module repository): generate it only.
// It is compiled and used by the Go consumer check below, which can pin what the Go module proxy
// really serves (docs/releasing.md says why jsii-pacmak's own Go build cannot here).
project.tasks.tryFind('package:go')!.reset('jsii-pacmak -v --target go --code-only');

// Java and Go packages proven as their users would use them: build the jar (Maven) and the Go
// module with jsii-pacmak, then synthesize consumers/java (aws-cdk-lib from Maven Central) and
// consumers/go (aws-cdk-go from the Go module proxy) and require their templates to equal the
// TypeScript twin's (consumers/run.js). Needs the compiled .jsii (test:python compiles it).
// Timings, cold and warm: docs/releasing.md.
const testConsumers = project.addTask('test:consumers', {
  description: 'Build the Java and Go packages and synthesize a small Java app and a small Go app with them',
});
testConsumers.exec('node consumers/run.js java go', { env: { CONSUMER_GO_SCHEMA: 'v53.25.0' } });

// The test command: bundle Lambda code first (a fresh clone has none), jest, eslint, then the
// integ snapshots and cfn-lint.
const test = project.testTask;
// jest's handler tests start Python tools (moto's S3 server) from the same .venv.
test.prependSpawn(pythonEnv);
// The CDC preflight (jest) and pull (pytest) tests start PostgreSQL 15 clusters.
test.prependExec('node build-tools/ensure-postgres.js');
if (bundleTask) test.prependSpawn(bundleTask);
test.spawn(integVerify);
test.spawn(testPython);
test.spawn(testConsumers);
test.spawn(compat);
test.spawn(cfnLint);

project.synth();
