package main

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// Config is the shape of the synthetic instance.
type Config struct {
	Projects int    // projects, spread round-robin over the groups
	Vars     int    // CI/CD variables per project
	Groups   int    // groups acme/g001…; 0 picks one per 4 projects, 1 to 50
	Seed     uint64 // the same seed builds the same instance
}

// Instance is what Build added: the admin token and counts.
type Instance struct {
	AdminToken     string
	Groups         int // acme/gNNN groups (acme, acme/archive and acme-archive not counted)
	Projects       int
	ProjectVars    int
	GroupVars      int
	InstanceVars   int
	Credentials    int // variables that hold a credential, at every level
	FirstProject   string
	ProjectPaths   []string
	ProjectsByKind map[string]int // projects holding each credential kind
}

// Alphabets of the synthetic values.
const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // AWS key ids are base32
	base62      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base64Std   = base62 + "+/"
	base64URL   = base62 + "-_"
	azureChars  = base62 + "-_.~"
)

// gen draws every value of the instance from one seeded source, so that a
// seed always gives the same bytes.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x6b65796c657373))}
}

func (g *gen) intn(n int) int { return g.r.IntN(n) }

func (g *gen) chance(percent int) bool { return g.r.IntN(100) < percent }

// str is n characters of alphabet that no detector would take for a
// placeholder (EXAMPLE endings, "test", "fake", runs, sequences...).
func (g *gen) str(alphabet string, n int) string {
	for range 1000 {
		if s := g.raw(alphabet, n); !detect.Placeholder(s) && !strings.HasSuffix(s, "EXAMPLE") {
			return s
		}
	}
	panic("keyless-fake-gitlab: every value drawn looks like a placeholder")
}

// raw is n characters of alphabet.
func (g *gen) raw(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *gen) awsKeyID() string  { return "AKIA" + g.str(upperDigits, 16) }
func (g *gen) awsSecret() string { return g.str(base64Std, 40) }
func (g *gen) azure() string     { return g.str(azureChars, 3) + "8Q~" + g.str(azureChars, 34) }
func (g *gen) vault() string     { return "hvs." + g.str(base64URL, 28) }
func (g *gen) gitlab() string    { return "glpat-" + g.str(base64URL, 20) }

// pem is a synthetic PKCS #8 armour: random bytes, not a key.
func (g *gen) pem() string {
	raw := make([]byte, 1190) // about a 2048-bit RSA key's DER length
	for i := range raw {
		raw[i] = byte(g.r.IntN(256))
	}
	raw[0], raw[1], raw[2], raw[3] = 0x30, 0x82, 0x04, 0xa2 // SEQUENCE of 1186 bytes: "MIIEog…" as a real key
	b := base64.StdEncoding.EncodeToString(raw)
	var sb strings.Builder
	sb.WriteString("-----BEGIN PRIVATE KEY-----\n")
	for len(b) > 64 {
		sb.WriteString(b[:64] + "\n")
		b = b[64:]
	}
	sb.WriteString(b + "\n-----END PRIVATE KEY-----\n")
	return sb.String()
}

// gcpKey is a service-account key file as the console downloads it.
func (g *gen) gcpKey(project string) string {
	gp := fmt.Sprintf("acme-%s-%06d", project, g.intn(1000000))
	email := fmt.Sprintf("ci-deployer@%s.iam.gserviceaccount.com", gp)
	return fmt.Sprintf(`{
  "type": "service_account",
  "project_id": %q,
  "private_key_id": %q,
  "private_key": %q,
  "client_email": %q,
  "client_id": "1%020d",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://oauth2.googleapis.com/token",
  "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
  "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/%s",
  "universe_domain": "googleapis.com"
}
`, gp, g.raw("0123456789abcdef", 40), g.pem(), email, g.r.Uint64()%100000000000000000, strings.ReplaceAll(email, "@", "%40"))
}

func (g *gen) dockerAuth(registry string) string {
	user := "ci-" + strings.ToLower(g.str(base62, 6))
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + g.str(base62, 24)))
	return fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, registry, auth)
}

// Credential kinds of project variables, with their draw weights.
const (
	kAWS    = "aws"
	kAzure  = "azure"
	kGCP    = "gcp"
	kVault  = "vault"
	kDocker = "docker"
	kGitLab = "gitlab"
	kConfig = "config"
)

var kindWeights = []struct {
	kind   string
	weight int
}{{kAWS, 4}, {kAzure, 2}, {kGCP, 2}, {kVault, 2}, {kDocker, 1}, {kGitLab, 1}, {kConfig, 5}}

var configVars = []struct{ key, value string }{
	{"DEPLOY_REGION", "eu-west-1"}, {"LOG_LEVEL", "info"}, {"KUBE_NAMESPACE", "apps"},
	{"TF_VAR_environment", "staging"}, {"APP_ENV", "production"}, {"DEPLOY_BUCKET", "acme-releases"},
	{"HELM_RELEASE", "web"}, {"SENTRY_ENVIRONMENT", "prod"},
}

var projectNames = []string{"api", "web", "worker", "infra", "billing", "search", "auth", "etl", "mobile-backend", "docs"}

const registry = "registry.acme-corp.io"

// Build adds the synthetic instance to s.
func Build(s *gitlabtest.Server, c Config) Instance {
	g := newGen(c.Seed)
	groups := c.Groups
	if groups <= 0 {
		groups = min(max((c.Projects+3)/4, 1), 50)
	}
	in := Instance{Groups: groups, Projects: c.Projects, ProjectsByKind: map[string]int{}}
	in.AdminToken = "glpat-" + g.str(base64URL, 20)
	s.AddUser(in.AdminToken, "root", true)

	add := func(owner string, v gitlabtest.Variable, cred bool) {
		s.AddVariable(owner, v)
		switch {
		case owner == "":
			in.InstanceVars++
		case strings.Count(owner, "/") >= 2:
			in.ProjectVars++
		default:
			in.GroupVars++
		}
		if cred {
			in.Credentials++
		}
	}

	// Instance and group levels: a registry login every job gets, and a
	// few group-wide keys, as platform teams set them up.
	s.AddGroup("acme")
	add("", gitlabtest.Variable{Key: "DOCKER_AUTH_CONFIG", Value: g.dockerAuth(registry), Masked: false}, true)
	add("", gitlabtest.Variable{Key: "HTTP_PROXY", Value: "http://proxy.acme-corp.io:3128"}, false)
	add("acme", gitlabtest.Variable{Key: "VAULT_ADDR", Value: "https://vault.acme-corp.io:8200"}, false)
	add("acme", gitlabtest.Variable{Key: "GITLAB_API_TOKEN", Value: g.gitlab(), Masked: true, Description: "release bot"}, true)
	for i := 1; i <= groups; i++ {
		gp := fmt.Sprintf("acme/g%03d", i)
		s.AddGroup(gp)
		if i%5 == 0 {
			add(gp, gitlabtest.Variable{Key: "AWS_ACCESS_KEY_ID", Value: g.awsKeyID()}, true)
			add(gp, gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: g.awsSecret(), Masked: true}, true)
		}
		if i%7 == 0 {
			add(gp, gitlabtest.Variable{Key: "ARM_CLIENT_SECRET", Value: g.azure(), Masked: true, Hidden: true, Protected: true}, true)
		}
		if i%3 == 0 {
			add(gp, gitlabtest.Variable{Key: "SONAR_HOST_URL", Value: "https://sonar.acme-corp.io"}, false)
		}
	}

	width := max(len(fmt.Sprint(c.Projects)), 3)
	for i := 1; i <= c.Projects; i++ {
		path := fmt.Sprintf("acme/g%03d/%s-%0*d", (i-1)%groups+1, projectNames[(i-1)%len(projectNames)], width, i)
		s.AddProject(path)
		in.ProjectPaths = append(in.ProjectPaths, path)
		if i == 1 {
			in.FirstProject = path
		}
		vars, used := g.projectVars(path, c.Vars)
		for _, v := range vars {
			add(path, v.Variable, v.cred)
		}
		for k := range used {
			if k != kConfig {
				in.ProjectsByKind[k]++
			}
		}
		s.AddFile(path, "main", ".gitlab-ci.yml", g.pipeline(path, vars))
	}

	// Groups without projects, whose variables only the groups API leads
	// to (issue 16): a top-level archive and one under acme. Drawn last,
	// so that a seed's other values stay as they were.
	s.AddGroup("acme-archive")
	add("acme-archive", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: g.awsSecret(), Masked: true}, true)
	s.AddGroup("acme/archive")
	add("acme/archive", gitlabtest.Variable{Key: "GITLAB_TOKEN", Value: g.gitlab(), Masked: true}, true)
	return in
}

// pvar is a project variable and what it is.
type pvar struct {
	gitlabtest.Variable
	kind string
	cred bool
}

// projectVars draws n variables: credentials of distinct kinds and
// ordinary settings.
func (g *gen) projectVars(path string, n int) ([]pvar, map[string]bool) {
	var out []pvar
	used := map[string]bool{}
	total := 0
	for _, kw := range kindWeights {
		total += kw.weight
	}
	scope := func() string {
		if g.chance(20) {
			return "production"
		}
		return "*"
	}
	cfg := 0
	name := path[strings.LastIndexByte(path, '/')+1:]
	for tries := 0; len(out) < n; tries++ {
		w := g.intn(total)
		kind := kConfig
		for _, kw := range kindWeights {
			if w < kw.weight {
				kind = kw.kind
				break
			}
			w -= kw.weight
		}
		if tries > 50 {
			kind = kConfig
		}
		if kind != kConfig && used[kind] || kind == kAWS && n-len(out) < 2 {
			continue
		}
		used[kind] = true
		prot := g.chance(50)
		switch kind {
		case kAWS:
			sc := scope()
			out = append(out,
				pvar{gitlabtest.Variable{Key: "AWS_ACCESS_KEY_ID", Value: g.awsKeyID(), Protected: prot, EnvironmentScope: sc}, kind, true},
				pvar{gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: g.awsSecret(), Protected: prot, Masked: g.chance(70), EnvironmentScope: sc}, kind, true})
		case kAzure:
			out = append(out, pvar{gitlabtest.Variable{Key: "AZURE_CLIENT_SECRET", Value: g.azure(), Protected: prot, Masked: true, Hidden: true, EnvironmentScope: scope()}, kind, true})
		case kGCP:
			v := gitlabtest.Variable{Key: "GCP_SERVICE_ACCOUNT_KEY", Value: g.gcpKey(name), Protected: prot, EnvironmentScope: scope()}
			if g.chance(50) {
				v.Key, v.Type = "GOOGLE_APPLICATION_CREDENTIALS", "file"
			}
			out = append(out, pvar{v, kind, true})
		case kVault:
			out = append(out, pvar{gitlabtest.Variable{Key: "VAULT_TOKEN", Value: g.vault(), Protected: prot, Masked: g.chance(60), EnvironmentScope: scope()}, kind, true})
		case kDocker:
			out = append(out, pvar{gitlabtest.Variable{Key: "DOCKER_AUTH_CONFIG", Value: g.dockerAuth(registry), Protected: prot, EnvironmentScope: "*"}, kind, true})
		case kGitLab:
			out = append(out, pvar{gitlabtest.Variable{Key: "GITLAB_API_TOKEN", Value: g.gitlab(), Protected: prot, Masked: true, EnvironmentScope: "*"}, kind, true})
		default:
			key, value := fmt.Sprintf("CONFIG_%d", cfg), "on"
			if cfg < len(configVars) {
				key, value = configVars[cfg].key, configVars[cfg].value
			}
			cfg++
			out = append(out, pvar{gitlabtest.Variable{Key: key, Value: value, EnvironmentScope: "*"}, kConfig, false})
		}
	}
	return out, used
}

// pipeline is the project's .gitlab-ci.yml: build and test jobs, and a job
// using each credential most of the time (a stored key nothing uses is
// realistic too).
func (g *gen) pipeline(path string, vars []pvar) string {
	name := path[strings.LastIndexByte(path, '/')+1:]
	var b strings.Builder
	b.WriteString("stages: [build, test, deploy]\n\n")
	b.WriteString("build:\n  stage: build\n  image: golang:1.26\n  script:\n    - go build ./...\n\n")
	b.WriteString("test:\n  stage: test\n  image: golang:1.26\n  script:\n    - go test ./...\n")
	onMain := "  rules:\n    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH\n"
	done := map[string]bool{}
	for _, v := range vars {
		if done[v.kind] {
			continue
		}
		done[v.kind] = true
		if v.kind != kConfig && !g.chance(85) {
			continue
		}
		b.WriteString("\n")
		switch v.kind {
		case kAWS:
			switch g.intn(3) {
			case 0:
				fmt.Fprintf(&b, "upload:\n  stage: deploy\n  image: amazon/aws-cli:2.17.0\n  script:\n    - aws s3 cp dist/ s3://acme-artifacts/%s/ --recursive\n%s", name, onMain)
			case 1:
				fmt.Fprintf(&b, "terraform-apply:\n  stage: deploy\n  image: hashicorp/terraform:1.9\n  script:\n    - terraform init -input=false\n    - terraform apply -auto-approve -input=false\n%s", onMain)
			default:
				fmt.Fprintf(&b, "publish:\n  stage: deploy\n  image: python:3.12\n  script:\n    - pip install awscli\n    - aws configure set aws_access_key_id \"$AWS_ACCESS_KEY_ID\"\n    - aws configure set aws_secret_access_key \"$AWS_SECRET_ACCESS_KEY\"\n    - aws s3 sync site/ s3://acme-sites/%s/\n%s", name, onMain)
			}
		case kAzure:
			fmt.Fprintf(&b, "deploy-azure:\n  stage: deploy\n  image: mcr.microsoft.com/azure-cli:2.64.0\n  script:\n    - az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\"\n    - az webapp deploy --name %s --src-path app.zip\n%s", name, onMain)
		case kGCP:
			if v.Type == "file" {
				fmt.Fprintf(&b, "deploy-gcp:\n  stage: deploy\n  image: google/cloud-sdk:489.0.0\n  script:\n    - gcloud auth activate-service-account --key-file \"$GOOGLE_APPLICATION_CREDENTIALS\"\n    - gcloud run deploy %s --source .\n%s", name, onMain)
			} else {
				fmt.Fprintf(&b, "deploy-gcp:\n  stage: deploy\n  image: google/cloud-sdk:489.0.0\n  script:\n    - echo \"$GCP_SERVICE_ACCOUNT_KEY\" > /tmp/key.json\n    - gcloud auth activate-service-account --key-file /tmp/key.json\n    - gcloud run deploy %s --source .\n%s", name, onMain)
			}
		case kVault:
			fmt.Fprintf(&b, "migrate:\n  stage: deploy\n  image: hashicorp/vault:1.17\n  script:\n    - export DB_PASSWORD=$(vault kv get -field=password secret/ci/%s/db)\n    - ./migrate up\n%s", name, onMain)
		case kDocker:
			fmt.Fprintf(&b, "package:\n  stage: deploy\n  image: %s/ci/builder:1.4\n  script:\n    - make package\n", registry)
		case kGitLab:
			b.WriteString("release:\n  stage: deploy\n  image: curlimages/curl:8.9.1\n  script:\n    - 'curl --fail --header \"PRIVATE-TOKEN: $GITLAB_API_TOKEN\" --data name=$CI_COMMIT_TAG \"$CI_API_V4_URL/projects/$CI_PROJECT_ID/releases\"'\n  rules:\n    - if: $CI_COMMIT_TAG\n")
		case kConfig:
			fmt.Fprintf(&b, "show-config:\n  stage: test\n  image: alpine:3.20\n  script:\n    - echo \"%s=$%s\"\n", v.Key, v.Key)
		}
	}
	return b.String()
}
