// Puts the Deequ jar the merge jobs ship with `--extra-jars` (when a table declares quality rules)
// into assets/glue/, where MergeJob finds it and from where the npm package carries it. Fetched
// from Maven Central with mvn (as the Python tests fetch Iceberg), checked against its SHA-256.
// Run by the bundle task (before tests and packaging); a no-op when the jar is already in place.
const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ARTIFACT = 'com.amazon.deequ:deequ:2.0.7-spark-3.5';
const FILE = 'deequ-2.0.7-spark-3.5.jar';
const SHA256 = '97c2736b1d9df4d4bb3303dd1eaa5f42db70605c79be1769ba9ef5c0cd744faa';
const target = path.join(__dirname, '..', 'assets', 'glue', FILE);

const NOTICE = path.join(path.dirname(target), 'THIRD_PARTY_NOTICES.txt');
const NOTICE_TEXT = [
  'Third-party software shipped in this folder (uploaded as a Glue job asset with --extra-jars):',
  '',
  `${FILE}: Deequ ${ARTIFACT.split(':')[2]} (${ARTIFACT}), https://github.com/awslabs/deequ`,
  'Licence (as its Maven POM declares): Apache License, Version 2.0, http://aws.amazon.com/apache2.0/',
  '',
].join('\n');

const digest = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

if (fs.existsSync(target) && digest(target) === SHA256) {
  console.log(`${path.relative(process.cwd(), target)} is in place`);
} else {
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'deequ-'));
  try {
    execFileSync('mvn', ['-B', '-q', 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy',
      `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${staging}`], { stdio: 'inherit' });
    const fetched = path.join(staging, FILE);
    const got = digest(fetched);
    if (got !== SHA256) throw new Error(`${FILE}: SHA-256 ${got}, expected ${SHA256}`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(fetched, `${target}.tmp`);
    fs.renameSync(`${target}.tmp`, target);
    console.log(`fetched ${ARTIFACT} into ${path.relative(process.cwd(), target)}`);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
fs.writeFileSync(NOTICE, NOTICE_TEXT);
