import { awscdk, javascript, JsonFile } from 'projen';

// Versions measured to work together on the project's machines (../shared/TOOLCHAIN.md):
// newer aws-cdk-lib writes a cloud-assembly schema integ-runner 2.197.x cannot read.
const CDK_VERSION = '2.257.0';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-lakehouse',
  description:
    'Composable AWS CDK L3 constructs for data lakes: S3 + Glue + Iceberg zones, CDC, streaming and API ingestion, Athena serving and pipeline observability.',
  author: 'cdk-lakehouse maintainers',
  authorAddress: 'maintainers@cdk-lakehouse.dev',
  repositoryUrl: 'https://example.invalid/cdk-lakehouse.git',
  license: 'Apache-2.0',
  keywords: ['aws-cdk', 'cdk', 'data-lake', 'lakehouse', 'iceberg', 'glue', 'athena', 'awscdk'],

  cdkVersion: CDK_VERSION,
  constructsVersion: '10.5.1',
  jsiiVersion: '~6.0.0',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,

  // CI here is `.ci/run`, not GitHub.
  github: false,
  release: false,
  buildWorkflow: false,
  depsUpgrade: false,
  pullRequestTemplate: false,

  publishToPypi: {
    distName: 'cdk-lakehouse',
    module: 'cdk_lakehouse',
  },

  devDeps: [
    'cdk-nag@~2.38.2',
    '@aws-cdk/integ-tests-alpha@2.245.0-alpha.0',
    '@aws-cdk/integ-runner@2.197.10',
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
    },
  },

  gitignore: [
    'cdk.out/',
    '/integ/cdk-integ.out.*',
    '/integ/*.snapshot/asset.*',
    '/benchmarks/out/',
    '.venv/',
    '__pycache__/',
  ],
});

// eslint's project service looks for the nearest tsconfig.json: give each dev folder one that
// extends the dev settings.
for (const dir of ['examples', 'integ', 'benchmarks']) {
  new JsonFile(project, `${dir}/tsconfig.json`, {
    obj: { extends: '../test/tsconfig.json', include: ['**/*.ts'], exclude: ['**/*.snapshot/**', 'out/**'] },
  });
}

// ---------------------------------------------------------------------------------------------
// Tasks behind the README's two commands.

// Main job: synthesize the reference lake into cdk.out/ with no AWS account and summarize it.
const synthExample = project.addTask('synth:example', {
  description: 'Synthesize examples/reference-lake.ts into cdk.out/ and print a summary',
});
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

// cfn-lint (Python) on the synthesized reference lake.
const cfnLint = project.addTask('cfn-lint', {
  description: 'Run cfn-lint on the synthesized reference lake',
});
cfnLint.spawn(synthExample);
cfnLint.exec('cfn-lint --format parseable cdk.out/*.template.json');

project.addTask('benchmark', {
  description: 'Synthesize lakes with 1, 10 and 100 Iceberg tables and print time, memory and resources',
  exec: 'ts-node --project test/tsconfig.json benchmarks/synth-scale.ts',
});

// The test command: bundle Lambda code first (a fresh clone has none), jest, eslint, then the
// integ snapshots and cfn-lint.
const test = project.testTask;
const bundle = project.tasks.tryFind('bundle');
if (bundle) test.prependSpawn(bundle);
test.spawn(integVerify);
test.spawn(cfnLint);

project.synth();
