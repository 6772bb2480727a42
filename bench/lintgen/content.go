package main

import (
	"fmt"
	"math"
	"strings"
)

// The shapes below follow the corpus (../shared/corpus): stages, workflow and include rules,
// default:, anchors with << merges, hidden templates used through extends and !reference,
// services, parallel:matrix, needs, environments, artifacts reports, trigger jobs. Variables are
// references ($CI_…) or harmless literals, as in real pipelines that keep their secrets in CI/CD
// settings; a few decoys (digests, test database passwords, commit SHAs) are there on purpose.

type language struct {
	name, image, lintImage string
	setup, build, test     []string
	lint                   []string
	cacheKey               string
	cachePaths             []string
	vars                   [][2]string
	artifacts              []string
	junit                  string
	coverage               string
}

var languages = []language{
	{
		name: "go", image: "golang:1.23-bookworm", lintImage: "golangci/golangci-lint:v1.61.0",
		setup:    []string{"go version", "go mod download"},
		build:    []string{"go build -trimpath -ldflags \"-s -w -X main.version=$CI_COMMIT_SHORT_SHA\" -o bin/$COMPONENT ./cmd/$COMPONENT"},
		test:     []string{"go test -race -coverprofile=coverage.out -covermode=atomic ./...", "go tool cover -func=coverage.out | tail -n 1", "go run gotest.tools/gotestsum@v1.12.0 --junitfile report.xml --format testname"},
		lint:     []string{"golangci-lint run --timeout 5m --out-format colored-line-number"},
		cacheKey: "go-mod-${CI_COMMIT_REF_SLUG}", cachePaths: []string{".go/pkg/mod/"},
		vars:      [][2]string{{"GOPATH", "$CI_PROJECT_DIR/.go"}, {"CGO_ENABLED", "\"0\""}, {"GOFLAGS", "-mod=readonly"}},
		artifacts: []string{"bin/"}, junit: "report.xml", coverage: "/total:\\s+\\(statements\\)\\s+\\d+.\\d+%/",
	},
	{
		name: "node", image: "node:20.18-alpine", lintImage: "node:20.18-alpine",
		setup:    []string{"npm ci --cache .npm --prefer-offline"},
		build:    []string{"npm run build -- --mode production", "du -sh dist/"},
		test:     []string{"npm test -- --ci --reporters=default --reporters=jest-junit", "npx nyc report --reporter=text-summary"},
		lint:     []string{"npx eslint --max-warnings 0 .", "npx prettier --check ."},
		cacheKey: "npm-${CI_COMMIT_REF_SLUG}", cachePaths: []string{".npm/", "node_modules/"},
		vars:      [][2]string{{"NODE_ENV", "production"}, {"npm_config_cache", "$CI_PROJECT_DIR/.npm"}},
		artifacts: []string{"dist/"}, junit: "junit.xml", coverage: "/All files[^|]*\\|[^|]*\\s+([\\d\\.]+)/",
	},
	{
		name: "python", image: "python:3.12-slim", lintImage: "python:3.12-slim",
		setup:    []string{"python -m venv .venv", "source .venv/bin/activate", "pip install --upgrade pip", "pip install -r requirements.txt -r requirements-dev.txt"},
		build:    []string{"python -m build --wheel --outdir dist/", "twine check dist/*"},
		test:     []string{"pytest --junitxml=report.xml --cov=src --cov-report=term --cov-report=xml:coverage.xml -n auto"},
		lint:     []string{"ruff check .", "ruff format --check .", "mypy src/"},
		cacheKey: "pip-${CI_JOB_NAME}", cachePaths: []string{".cache/pip", ".venv/"},
		vars:      [][2]string{{"PIP_CACHE_DIR", "$CI_PROJECT_DIR/.cache/pip"}, {"PYTHONUNBUFFERED", "\"1\""}},
		artifacts: []string{"dist/"}, junit: "report.xml", coverage: "/(?i)total.*? (100(?:\\.0+)?\\%|[1-9]?\\d(?:\\.\\d+)?\\%)$/",
	},
	{
		name: "java", image: "maven:3.9-eclipse-temurin-21", lintImage: "maven:3.9-eclipse-temurin-21",
		setup:    []string{"mvn $MAVEN_CLI_OPTS -version"},
		build:    []string{"mvn $MAVEN_CLI_OPTS package -DskipTests -pl $COMPONENT -am"},
		test:     []string{"mvn $MAVEN_CLI_OPTS verify -pl $COMPONENT -am", "cat $COMPONENT/target/site/jacoco/index.html | grep -o 'Total[^%]*%' || true"},
		lint:     []string{"mvn $MAVEN_CLI_OPTS spotless:check checkstyle:check"},
		cacheKey: "maven-${CI_COMMIT_REF_SLUG}", cachePaths: []string{".m2/repository/"},
		vars:      [][2]string{{"MAVEN_OPTS", "-Dmaven.repo.local=$CI_PROJECT_DIR/.m2/repository"}, {"MAVEN_CLI_OPTS", "--batch-mode --errors --fail-at-end --show-version"}},
		artifacts: []string{"$COMPONENT/target/*.jar"}, junit: "$COMPONENT/target/surefire-reports/TEST-*.xml", coverage: "/Total.*?([0-9]{1,3})%/",
	},
	{
		name: "rust", image: "rust:1.82-slim-bookworm", lintImage: "rust:1.82-slim-bookworm",
		setup:    []string{"rustc --version && cargo --version", "apt-get update -qq && apt-get install -y -qq pkg-config libssl-dev"},
		build:    []string{"cargo build --release --locked -p $COMPONENT", "strip target/release/$COMPONENT"},
		test:     []string{"cargo test --locked --workspace -- --test-threads 2", "cargo llvm-cov --workspace --lcov --output-path lcov.info"},
		lint:     []string{"rustup component add clippy rustfmt", "cargo fmt --all -- --check", "cargo clippy --all-targets -- -D warnings"},
		cacheKey: "cargo-${CI_COMMIT_REF_SLUG}", cachePaths: []string{"target/", ".cargo/registry/"},
		vars:      [][2]string{{"CARGO_HOME", "$CI_PROJECT_DIR/.cargo"}, {"RUST_BACKTRACE", "\"1\""}},
		artifacts: []string{"target/release/$COMPONENT"}, junit: "target/nextest/ci/junit.xml", coverage: "/^\\d+.\\d+% coverage/",
	},
	{
		name: "ruby", image: "ruby:3.3-slim", lintImage: "ruby:3.3-slim",
		setup:    []string{"gem install bundler --no-document", "bundle config set --local path vendor/ruby", "bundle install --jobs $(nproc) --retry 3"},
		build:    []string{"bundle exec rake assets:precompile", "bundle exec rake build"},
		test:     []string{"bundle exec rake db:create db:schema:load", "bundle exec rspec --format progress --format RspecJunitFormatter --out rspec.xml"},
		lint:     []string{"bundle exec rubocop --parallel", "bundle exec brakeman --no-pager -q"},
		cacheKey: "gems-${CI_COMMIT_REF_SLUG}", cachePaths: []string{"vendor/ruby/"},
		vars:      [][2]string{{"RAILS_ENV", "test"}, {"BUNDLE_WITHOUT", "development"}},
		artifacts: []string{"pkg/", "public/assets/"}, junit: "rspec.xml", coverage: "/LOC \\((\\d+\\.\\d+)%\\) covered/",
	},
}

var (
	components  = []string{"api", "web", "worker", "auth", "billing", "search", "gateway", "notifier", "scheduler", "importer", "reports", "admin", "cli", "sdk", "ledger", "catalog", "checkout", "media"}
	groups      = []string{"platform", "payments", "identity", "data", "mobile", "infra", "growth", "support", "tooling", "commerce"}
	envs        = []string{"review", "staging", "production", "qa", "sandbox"}
	regions     = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-2"}
	runnerTags  = []string{"docker", "linux", "kubernetes", "saas-linux-medium-amd64", "shared", "arm64"}
	dbServices  = []string{"postgres:16-alpine", "mysql:8.4", "redis:7-alpine", "mongo:7", "rabbitmq:3.13-management", "elasticsearch:8.15.0"}
	internalDom = []string{"acme-internal.net", "corp.example-co.io", "build.northwind.dev", "git.contoso-labs.org"}
)

// manifests: the file whose change reruns a language's jobs.
var manifests = map[string]string{"go": "go.sum", "node": "package-lock.json", "python": "requirements.txt", "java": "pom.xml", "rust": "Cargo.lock", "ruby": "Gemfile.lock"}

// project is what every file of one project shares.
type project struct {
	index     int
	dir       string
	group     string
	lang      language
	comps     []string
	hasCommon bool // the project has ci/common.yml, whose hidden templates the other files use
	includes  int  // how many of includedFiles the project has
	jobs      int  // job counter, so that job names are unique across the project's files
	anchors   int
}

func (g *gen) project(i, nfiles int) *project {
	p := &project{
		index:     i,
		dir:       fmt.Sprintf("projects/p%04d", i),
		group:     g.pick(groups),
		lang:      languages[g.r.IntN(len(languages))],
		hasCommon: nfiles >= 2,
		includes:  nfiles - 1,
	}
	n := 2 + g.r.IntN(3)
	perm := g.r.Perm(len(components))
	for _, k := range perm[:n] {
		p.comps = append(p.comps, components[k])
	}
	return p
}

func (p *project) jobName(verb, comp string) string {
	p.jobs++
	switch p.jobs % 3 {
	case 0:
		return fmt.Sprintf("%s:%s:%d", verb, comp, p.jobs)
	case 1:
		return fmt.Sprintf("%s-%s-%d", verb, comp, p.jobs)
	}
	return fmt.Sprintf("%s_%s_%d", verb, comp, p.jobs)
}

// size draws a file size between 1 and 10 KB, log-uniform: many small files, a few large ones.
func (g *gen) size() int {
	return int(1024 * math.Pow(10, g.r.Float64()))
}

// file renders one file of project p; role is "root" or an entry of includedFiles.
func (g *gen) file(p *project, role string, plant *plantSpec) *yfile {
	path := p.dir + "/.gitlab-ci.yml"
	if role != "root" {
		path = p.dir + "/" + role
	}
	f := &yfile{path: path}
	target := g.size()
	anchor := g.header(f, p, role, plant)

	// The planting goes after a few filler jobs, at a random depth in the file.
	placeAfter := g.r.IntN(4)
	placed := plant == nil || plant.construct == "included-file"
	for jobs := 0; f.buf.Len() < target || !placed; jobs++ {
		if !placed && (jobs >= placeAfter || f.buf.Len() >= target) {
			g.plant(f, p, plant, anchor)
			placed = true
			continue
		}
		g.filler(f, p, role, anchor)
	}
	return f
}

// header writes the top of a file and returns the name of the rules anchor it defines ("" if none).
func (g *gen) header(f *yfile, p *project, role string, plant *plantSpec) string {
	lg := p.lang
	switch role {
	case "root":
		f.l(fmt.Sprintf("# %s/%s: %s services (%s)", p.group, strings.Join(p.comps, "-"), lg.name, strings.Join(p.comps, ", ")),
			"# Jobs live in ci/*.yml; this file wires stages, workflow and defaults.")
		if p.includes > 0 {
			f.l("include:")
			for i := 0; i < p.includes; i++ {
				inc := "/" + includedFiles[i]
				switch {
				case i == 3 && g.chance(20):
					f.l("  - local: "+inc, "    rules:", "      - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH || $CI_COMMIT_TAG")
				case g.chance(30):
					f.l("  - " + inc)
				default:
					f.l("  - local: " + inc)
				}
			}
			if g.chance(25) {
				f.l("  - template: Jobs/SAST.gitlab-ci.yml")
			}
			f.l("")
		}
		f.l("stages:", "  - build", "  - test")
		if g.chance(50) {
			f.l("  - package")
		}
		f.l("  - deploy", "")
		f.l("workflow:", "  rules:",
			"    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"",
			"    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS",
			"      when: never",
			"    - if: $CI_COMMIT_BRANCH",
			"    - if: $CI_COMMIT_TAG", "")
		f.l("default:", "  image: "+g.image(lg.image), "  interruptible: true",
			"  retry:", "    max: 2", "    when:", "      - runner_system_failure", "      - stuck_or_timeout_failure")
		if g.chance(60) {
			f.l("  tags:", "    - "+g.pick(runnerTags))
		}
		if p.hasCommon && g.chance(50) {
			f.l("  before_script:", "    - !reference [.setup, before_script]")
		}
		f.l("")
		f.l("variables:", "  GIT_DEPTH: \"20\"", "  FF_USE_FASTZIP: \"true\"")
		for _, kv := range lg.vars {
			f.l("  " + kv[0] + ": " + kv[1])
		}
		f.l(fmt.Sprintf("  IMAGE_BASE: $CI_REGISTRY_IMAGE/%s", p.comps[0]), "")
	case "ci/common.yml":
		f.l("# Hidden templates shared by the other ci/*.yml files (extends and !reference).", "")
		g.includedVars(f, p, plant)
		f.l(".setup:", "  before_script:")
		for _, s := range lg.setup {
			f.l("    - " + s)
		}
		f.l("")
		f.l(".cache-"+lg.name+":", "  cache:", "    key: "+lg.cacheKey, "    paths:")
		for _, c := range lg.cachePaths {
			f.l("      - " + c)
		}
		f.l("    policy: pull-push", "")
		f.l(".rules-default:", "  rules:",
			"    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"",
			"    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
			"    - if: $CI_COMMIT_TAG =~ /^v\\d+\\.\\d+\\.\\d+$/", "")
		f.l(".docker-base:", "  image: "+g.image("docker:27.3"), "  services:", "    - name: docker:27.3-dind", "      alias: docker",
			"  variables:", "    DOCKER_HOST: tcp://docker:2376", "    DOCKER_TLS_CERTDIR: \"/certs\"", "    DOCKER_BUILDKIT: \"1\"",
			"  before_script:",
			"    - echo \"$CI_REGISTRY_PASSWORD\" | docker login -u \"$CI_REGISTRY_USER\" --password-stdin \"$CI_REGISTRY\"", "")
		f.l(".deploy-base:", "  image: "+g.image("alpine/helm:3.16.2"), "  resource_group: $CI_ENVIRONMENT_NAME",
			"  variables:", "    KUBE_NAMESPACE: "+p.group+"-$CI_ENVIRONMENT_SLUG", "    HELM_TIMEOUT: 10m",
			"  before_script:", "    - kubectl config use-context "+p.group+"/agents:$CI_ENVIRONMENT_NAME", "")
		return ""
	default:
		f.l(fmt.Sprintf("# %s jobs for %s.", strings.TrimSuffix(strings.TrimPrefix(role, "ci/"), ".yml"), strings.Join(p.comps, ", ")), "")
		g.includedVars(f, p, plant)
	}
	// A rules anchor, file-local as YAML anchors are, for the jobs below to alias.
	p.anchors++
	name := fmt.Sprintf("rules-%d", p.anchors)
	f.l("."+name+": &"+name,
		"  - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"",
		"    changes:",
		"      - "+p.comps[0]+"/**/*",
		"      - "+manifests[p.lang.name],
		"  - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "")
	return name
}

// includedVars writes an included file's global variables, where the included-file planting goes.
func (g *gen) includedVars(f *yfile, p *project, plant *plantSpec) {
	if plant == nil || plant.construct != "included-file" {
		if g.chance(40) {
			f.l("variables:", "  "+strings.ToUpper(p.comps[0])+"_IMAGE: $CI_REGISTRY_IMAGE/"+p.comps[0]+":$CI_COMMIT_SHORT_SHA", "")
		}
		return
	}
	f.l("variables:", "  "+strings.ToUpper(p.comps[0])+"_IMAGE: $CI_REGISTRY_IMAGE/"+p.comps[0]+":$CI_COMMIT_SHORT_SHA")
	g.plantVar(f, plant, "  ")
	f.l("  DEPLOY_REGION: "+g.pick(regions), "")
}

// image returns ref, sometimes pinned by digest (a decoy: a digest is not a secret).
func (g *gen) image(ref string) string {
	if g.chance(15) {
		return ref + "@sha256:" + g.hex(64)
	}
	return ref
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

// filler writes one job that carries no secret.
func (g *gen) filler(f *yfile, p *project, role, anchor string) {
	type job func(*yfile, *project, string)
	var choices []job
	switch role {
	case "ci/common.yml":
		choices = []job{g.template, g.template, g.lintJob}
	case "ci/build.yml":
		choices = []job{g.buildJob, g.buildJob, g.dockerJob, g.matrixJob}
	case "ci/test.yml":
		choices = []job{g.testJob, g.testJob, g.lintJob, g.matrixJob}
	case "ci/deploy.yml":
		choices = []job{g.deployJob, g.deployJob, g.releaseJob, g.triggerJob, g.pagesJob}
	default:
		choices = []job{g.buildJob, g.testJob, g.lintJob, g.deployJob, g.dockerJob, g.triggerJob}
	}
	choices[g.r.IntN(len(choices))](f, p, anchor)
}

// rules writes a job's rules: the file's anchor, the shared template, or inline.
func (g *gen) rules(f *yfile, p *project, anchor string) {
	switch n := g.r.IntN(4); {
	case n == 0 && anchor != "":
		f.l("  rules: *" + anchor)
	case n == 1 && p.hasCommon:
		f.l("  rules:", "    - !reference [.rules-default, rules]", "    - if: $CI_PIPELINE_SOURCE == \"schedule\"", "      when: never")
	case n == 2:
		f.l("  rules:", "    - if: $CI_COMMIT_TAG", "      when: never", "    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"", "      changes:",
			"        - "+p.comps[0]+"/**/*", "    - when: manual", "      allow_failure: true")
	default:
		f.l("  only:", "    - main", "    - merge_requests", "  except:", "    variables:", "      - $SKIP_"+strings.ToUpper(p.comps[0])+" == \"true\"")
	}
}

func (g *gen) script(f *yfile, key string, lines []string, comp string) {
	f.l("  " + key + ":")
	for _, s := range lines {
		f.l("    - " + strings.ReplaceAll(s, "$COMPONENT", comp))
	}
}

func (g *gen) extendsCache(f *yfile, p *project) {
	if !p.hasCommon {
		return
	}
	if g.chance(50) {
		f.l("  extends:", "    - .cache-"+p.lang.name)
	} else {
		f.l("  extends: .cache-" + p.lang.name)
	}
}

func (g *gen) buildJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	f.l(p.jobName("build", comp)+":", "  stage: build")
	g.extendsCache(f, p)
	if g.chance(40) {
		f.l("  image: " + g.image(p.lang.image))
	}
	f.l("  variables:", "    COMPONENT: "+comp, fmt.Sprintf("    BUILD_NUMBER: $CI_PIPELINE_IID"))
	if p.hasCommon && g.chance(40) {
		f.l("  before_script:", "    - !reference [.setup, before_script]", "    - echo \"building $COMPONENT at $CI_COMMIT_SHORT_SHA\"")
	}
	g.script(f, "script", p.lang.build, comp)
	f.l("  artifacts:", "    name: \"$CI_JOB_NAME-$CI_COMMIT_REF_SLUG\"", "    paths:")
	for _, a := range p.lang.artifacts {
		f.l("      - " + strings.ReplaceAll(a, "$COMPONENT", comp))
	}
	f.l("    expire_in: " + g.pick([]string{"1 week", "3 days", "1 hour", "30 days"}))
	g.rules(f, p, anchor)
	f.l("")
}

func (g *gen) testJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	f.l(p.jobName("test", comp)+":", "  stage: test")
	g.extendsCache(f, p)
	if g.chance(50) {
		svc := g.pick(dbServices)
		f.l("  services:", "    - name: "+svc, "      alias: "+strings.SplitN(svc, ":", 2)[0])
		f.l("  variables:", "    COMPONENT: "+comp)
		switch {
		case strings.HasPrefix(svc, "postgres"):
			// A test database's fixed password, as in the corpus: not a long-lived secret.
			f.l("    POSTGRES_DB: "+comp+"_test", "    POSTGRES_USER: runner", "    POSTGRES_PASSWORD: postgres",
				"    DATABASE_URL: postgres://runner:postgres@postgres:5432/"+comp+"_test")
		case strings.HasPrefix(svc, "mysql"):
			f.l("    MYSQL_DATABASE: "+comp, "    MYSQL_ROOT_PASSWORD: root")
		default:
			f.l("    SERVICE_HOST: " + strings.SplitN(svc, ":", 2)[0])
		}
	} else {
		f.l("  variables:", "    COMPONENT: "+comp)
	}
	if g.chance(50) {
		f.l("  needs:", "    - job: "+g.pick([]string{"build", "compile", "prepare"})+"-"+comp, "      optional: true")
	}
	g.script(f, "script", p.lang.test, comp)
	f.l("  coverage: '" + p.lang.coverage + "'")
	f.l("  artifacts:", "    when: always", "    reports:", "      junit: "+strings.ReplaceAll(p.lang.junit, "$COMPONENT", comp))
	if g.chance(50) {
		f.l("      coverage_report:", "        coverage_format: cobertura", "        path: coverage.xml")
	}
	g.rules(f, p, anchor)
	f.l("")
}

func (g *gen) lintJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	f.l(p.jobName("lint", comp)+":", "  stage: test", "  image: "+g.image(p.lang.lintImage))
	if p.hasCommon && g.chance(50) {
		f.l("  before_script:", "    - !reference [.setup, before_script]")
	}
	g.script(f, "script", p.lang.lint, comp)
	if g.chance(50) {
		f.l("  allow_failure: true")
	}
	f.l("  needs: []")
	g.rules(f, p, anchor)
	f.l("")
}

func (g *gen) dockerJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	f.l(p.jobName("image", comp)+":", "  stage: "+g.pick([]string{"build", "package"}))
	if p.hasCommon {
		f.l("  extends: .docker-base")
	} else {
		f.l("  image: docker:27.3", "  services:", "    - docker:27.3-dind")
	}
	f.l("  variables:", "    IMAGE: $CI_REGISTRY_IMAGE/"+comp, "    DOCKERFILE: "+comp+"/Dockerfile")
	f.l("  script:",
		"    - docker pull \"$IMAGE:latest\" || true",
		"    - >",
		"      docker build --pull",
		"      --cache-from \"$IMAGE:latest\"",
		"      --label org.opencontainers.image.revision=$CI_COMMIT_SHA",
		"      --label org.opencontainers.image.source=$CI_PROJECT_URL",
		"      --build-arg VERSION=$CI_COMMIT_SHORT_SHA",
		"      -f \"$DOCKERFILE\" -t \"$IMAGE:$CI_COMMIT_SHORT_SHA\" .",
		"    - docker push \"$IMAGE:$CI_COMMIT_SHORT_SHA\"",
		"    - |",
		"      if [ \"$CI_COMMIT_BRANCH\" = \"$CI_DEFAULT_BRANCH\" ]; then",
		"        docker tag \"$IMAGE:$CI_COMMIT_SHORT_SHA\" \"$IMAGE:latest\"",
		"        docker push \"$IMAGE:latest\"",
		"      fi")
	g.rules(f, p, anchor)
	f.l("")
}

func (g *gen) matrixJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	f.l(p.jobName("matrix", comp)+":", "  stage: test", "  image: "+p.lang.image)
	f.l("  parallel:", "    matrix:", "      - TARGET_OS: [linux, darwin, windows]", "        TARGET_ARCH: [amd64, arm64]")
	if g.chance(50) {
		f.l("      - TARGET_OS: freebsd", "        TARGET_ARCH: amd64")
	}
	f.l("  script:", "    - echo \"building "+comp+" for $TARGET_OS/$TARGET_ARCH\"", "    - make "+comp+" OS=$TARGET_OS ARCH=$TARGET_ARCH")
	f.l("  artifacts:", "    paths:", "      - out/$TARGET_OS-$TARGET_ARCH/", "    expire_in: 2 days")
	g.rules(f, p, anchor)
	f.l("")
}

func (g *gen) deployJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	env := g.pick(envs)
	f.l(p.jobName("deploy", comp)+":", "  stage: deploy")
	if p.hasCommon {
		f.l("  extends: .deploy-base")
	} else {
		f.l("  image: alpine/helm:3.16.2")
	}
	f.l("  environment:", "    name: "+env+"/"+comp, "    url: https://"+comp+"."+env+"."+p.group+".example.com")
	if env == "review" {
		f.l("    auto_stop_in: 1 week")
	}
	if g.chance(30) {
		f.l("  id_tokens:", "    DEPLOY_ID_TOKEN:", "      aud: https://"+g.pick(internalDom))
	}
	f.l("  variables:", "    RELEASE: "+comp+"-$CI_ENVIRONMENT_SLUG", "    CHART: ./charts/"+comp)
	f.l("  script:",
		"    - helm dependency build \"$CHART\"",
		"    - >",
		"      helm upgrade --install \"$RELEASE\" \"$CHART\"",
		"      --namespace \"$KUBE_NAMESPACE\" --create-namespace",
		"      --set image.tag=$CI_COMMIT_SHORT_SHA",
		"      --set ingress.host="+comp+"."+env+"."+p.group+".example.com",
		"      --wait --timeout ${HELM_TIMEOUT:-5m}")
	if env == "production" {
		f.l("  rules:", "    - if: $CI_COMMIT_TAG", "      when: manual")
	} else {
		g.rules(f, p, anchor)
	}
	f.l("")
}

func (g *gen) releaseJob(f *yfile, p *project, anchor string) {
	f.l(p.jobName("release", p.comps[0])+":", "  stage: deploy", "  image: registry.gitlab.com/gitlab-org/release-cli:v0.19.0",
		"  rules:", "    - if: $CI_COMMIT_TAG",
		"  script:", "    - echo \"releasing $CI_COMMIT_TAG\"",
		"  release:", "    tag_name: $CI_COMMIT_TAG", "    name: \"Release $CI_COMMIT_TAG\"",
		"    description: ./CHANGELOG.md", "    assets:", "      links:",
		"        - name: "+p.comps[0]+"-linux-amd64",
		"          url: \"$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/"+p.comps[0]+"/$CI_COMMIT_TAG/"+p.comps[0]+"\"", "")
}

func (g *gen) triggerJob(f *yfile, p *project, anchor string) {
	comp := g.pick(p.comps)
	f.l(p.jobName("downstream", comp)+":", "  stage: deploy",
		"  trigger:", "    project: "+p.group+"/"+comp+"-e2e", "    branch: main", "    strategy: depend",
		"  variables:", "    UPSTREAM_SHA: $CI_COMMIT_SHA", "    UPSTREAM_REF: $CI_COMMIT_REF_NAME")
	g.rules(f, p, anchor)
	f.l("")
}

func (g *gen) pagesJob(f *yfile, p *project, anchor string) {
	p.jobs++
	if p.jobs%7 != 0 { // one pages job per project at most, most of the time none
		g.deployJob(f, p, anchor)
		return
	}
	f.l(fmt.Sprintf("docs-%d:", p.jobs), "  stage: deploy", "  image: python:3.12-slim",
		"  script:", "    - pip install mkdocs-material==9.5.44", "    - mkdocs build --strict --site-dir public",
		"  artifacts:", "    paths:", "      - public", "  rules:", "    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "")
}

func (g *gen) template(f *yfile, p *project, anchor string) {
	p.anchors++
	name := fmt.Sprintf("defaults-%d", p.anchors)
	f.l(fmt.Sprintf(".%s: &%s", name, name), "  timeout: "+g.pick([]string{"15m", "30m", "1h"}), "  interruptible: true",
		"  retry:", "    max: 1", "    when: [runner_system_failure, api_failure]", "")
	comp := g.pick(p.comps)
	f.l(p.jobName("smoke", comp)+":", "  <<: *"+name, "  stage: test", "  image: curlimages/curl:8.10.1",
		"  script:", "    - curl --fail --retry 5 --retry-connrefused https://"+comp+".staging."+p.group+".example.com/healthz",
		"  needs: []", "  rules:", "    - if: $CI_PIPELINE_SOURCE == \"schedule\"", "")
}
