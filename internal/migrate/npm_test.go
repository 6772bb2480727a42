package migrate_test

import (
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
)

// TestMigrateNpmPackage: the npm component's package input is the
// "name" of the package.json the job's publish command publishes; where
// migrate cannot read it, the job is refused with the reason, and
// --npm-package (the default identity) names it (issue 18).
func TestMigrateNpmPackage(t *testing.T) {
	const web = `{"name": "@example/web", "version": "1.0.0"}`
	job := func(lines ...string) string {
		s := "publish:\n  image: node:22\n  script:\n"
		for _, l := range lines {
			s += "    - " + l + "\n"
		}
		return s
	}
	token := `echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc`
	flag := migrate.Identities{Default: map[string]migrate.Identity{"npm": {Cloud: "npm", Inputs: map[string]string{"package": "@example/flag"}}}}
	for _, c := range []struct {
		name    string
		files   map[string]string
		ids     migrate.Identities
		pkg     string // the include's package input, "" refused
		refused string
	}{
		{"root", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "npm publish")}, migrate.Identities{}, "@example/web", ""},
		{"cd", map[string]string{"packages/web/package.json": web, ".gitlab-ci.yml": job("cd packages/web", token, "npm publish --access public --tag next")}, migrate.Identities{}, "@example/web", ""},
		{"cd project dir", map[string]string{"packages/web/package.json": web, ".gitlab-ci.yml": job(`cd "$CI_PROJECT_DIR/packages/web"`, token, "pnpm publish --no-git-checks")}, migrate.Identities{}, "@example/web", ""},
		{"cd and publish on one line", map[string]string{"a/b/package.json": web, ".gitlab-ci.yml": job("cd a", token, "cd b && npm publish")}, migrate.Identities{}, "@example/web", ""},
		{"npm config set", map[string]string{"package.json": web, ".gitlab-ci.yml": job(`npm config set //registry.npmjs.org/:_authToken "$NPM_TOKEN"`, "npm publish")}, migrate.Identities{}, "@example/web", ""},
		{"package.json wins over the flag", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "npm publish")}, flag, "@example/web", ""},
		{"no package.json", map[string]string{".gitlab-ci.yml": job(token, "npm publish")}, migrate.Identities{}, "", "npm-package"},
		{"no package.json, flag", map[string]string{".gitlab-ci.yml": job(token, "npm publish")}, flag, "@example/flag", ""},
		{"dynamic dir", map[string]string{"package.json": web, ".gitlab-ci.yml": job(`cd "$PKG_DIR"`, token, "npm publish")}, migrate.Identities{}, "", "npm-package"},
		{"dynamic dir, flag", map[string]string{"package.json": web, ".gitlab-ci.yml": job(`cd "$PKG_DIR"`, token, "npm publish")}, flag, "@example/flag", ""},
		{"outside the project", map[string]string{".gitlab-ci.yml": job("cd ../other", token, "npm publish")}, migrate.Identities{}, "", "npm-package"},
		{"publishes a directory", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "npm publish dist/")}, migrate.Identities{}, "", "npm-package"},
		{"value flags", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "npm publish --registry https://registry.npmjs.org/ --tag next --provenance")}, migrate.Identities{}, "@example/web", ""},
		{"another directory by flag", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "pnpm publish --dir packages/web")}, migrate.Identities{}, "", "npm-package"},
		{"semantic-release", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "npx semantic-release")}, migrate.Identities{}, "", "npm-package"},
		{"workspaces", map[string]string{"package.json": web, ".gitlab-ci.yml": job(token, "npm publish --workspaces")}, migrate.Identities{}, "", "npm-package"},
		{"name is a template", map[string]string{"package.json": `{"name": "${PACKAGE_NAME}"}`, ".gitlab-ci.yml": job(token, "npm publish")}, migrate.Identities{}, "", "npm-package"},
		{"no name", map[string]string{"package.json": `{"version": "1.0.0"}`, ".gitlab-ci.yml": job(token, "npm publish")}, migrate.Identities{}, "", "npm-package"},
		{"project npmrc", map[string]string{"package.json": web, ".npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n", ".gitlab-ci.yml": "publish:\n  variables:\n    NODE_AUTH_TOKEN: $NPM_TOKEN\n  script:\n    - npm publish\n"}, flag, "", "dynamic"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, c.files)
			r, err := migrate.Migrate(dir, migrate.Options{Identities: c.ids})
			if err != nil {
				t.Fatal(err)
			}
			if got := reasons(r.Plan)["publish"]; got != c.refused {
				t.Fatalf("refused %q, want %q (%+v)", got, c.refused, r.Plan.Refused)
			}
			if c.refused != "" {
				if len(r.Changes) > 0 {
					t.Errorf("a refused job's configuration changed:\n%s", r.Diff())
				}
				return
			}
			if len(r.Plan.Includes) != 1 || r.Plan.Includes[0].Inputs["package"] != c.pkg {
				t.Fatalf("includes %+v, want one with package %q", r.Plan.Includes, c.pkg)
			}
		})
	}
}

// TestMigrateNpmExistingInclude: a project that includes the npm
// component for the package already gets no second include; the job
// extends the one there.
func TestMigrateNpmExistingInclude(t *testing.T) {
	dir := write(t, map[string]string{"package.json": `{"name": "@example/web"}`, ".gitlab-ci.yml": `include:
  - component: $CI_SERVER_FQDN/keyless-ci/keyless/npm@1
    inputs:
      package: "@example/web"

publish:
  variables:
    NODE_AUTH_TOKEN: $NPM_TOKEN
  script:
    - npm publish
`})
	r, err := migrate.Migrate(dir, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Plan.Includes) != 1 || !r.Plan.Includes[0].Existing || len(r.Plan.Jobs) != 1 || r.Plan.Jobs[0].Extends != ".keyless-npm" {
		t.Fatalf("want the existing include used: %+v %+v\n%s", r.Plan.Includes, r.Plan.Jobs, r.Diff())
	}
}
