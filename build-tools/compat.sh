#!/bin/sh
# API compatibility with the previous release (`npx projen compat`, run by the test command).
# The previous release is the newest v* tag; its package is fetched from npm by jsii-diff and
# compared with the freshly compiled .jsii. Without a tag there is no previous API: say so, pass.
# While 0.x (stability experimental) breaking changes are reported, not fatal (--error-on prod).
set -eu
name=$(node -p 'require("./package.json").name')
if ! tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
  echo "compat: no release tag (v*) yet, so no previous API to compare with: jsii-diff not run"
  exit 0
fi
echo "compat: comparing the compiled API with ${name}@${tag#v} (tag ${tag})"
exec jsii-diff "npm:${name}@${tag#v}" --keys --error-on prod --ignore-file .compatignore
