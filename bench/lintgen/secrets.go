package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// plantSpec is one kind of planting: what secret, in which YAML construct. An empty kind takes
// one from varKinds in turn (variant), so that every construct carries several kinds.
type plantSpec struct {
	kind      string
	construct string
	secrets   int // rows in planted.tsv
	variant   int
}

var plantSpecs = []plantSpec{
	{"aws-access-key", "job-variables", 2, 0}, // key id and secret key: two rows
	{"gitlab-pat", "script", 1, 0},
	{"private-key", "block-scalar", 1, 0},
	{"url-credentials", "script", 1, 0},
	{"vault-token", "job-variables", 1, 0},
	{"npm-token", "script", 1, 0},
	{"registry-password", "script", 1, 0},
	{"azure-client-secret", "job-variables", 1, 0},
	{"", "anchor-alias", 1, 0},
	{"", "hidden-extends", 1, 0},
	{"", "included-file", 1, 0},
}

// varKinds are the kinds plantVar can write as one variable.
var varKinds = []string{"gitlab-pat", "aws-secret-access-key", "npm-token", "vault-token", "azure-client-secret", "url-credentials", "private-key"}

func (s *plantSpec) varKind() string {
	if s.kind != "" {
		return s.kind
	}
	off := 0
	switch s.construct {
	case "hidden-extends":
		off = 2
	case "included-file":
		off = 4
	}
	return varKinds[(s.variant+off)%len(varKinds)]
}

// record adds a planted.tsv row for the secret on lines [line, end].
func (f *yfile) record(line, end int, kind, construct, secret string) {
	sum := sha256.Sum256([]byte(secret))
	f.planted = append(f.planted, plantedRow{
		file: f.path, line: line, endLine: end, kind: kind, construct: construct, sha256: hex.EncodeToString(sum[:]),
	})
}

// plant writes a job (or two) carrying the secret of s.
func (g *gen) plant(f *yfile, p *project, s *plantSpec, anchor string) {
	comp := g.pick(p.comps)
	dom := g.pick(internalDom)
	switch s.construct {
	case "job-variables":
		switch s.kind {
		case "aws-access-key":
			id, key := g.awsKeyID(), g.awsSecret()
			f.l(p.jobName("publish-assets", comp)+":", "  stage: deploy", "  image: "+g.image("amazon/aws-cli:2.18.0"), "  variables:",
				"    AWS_DEFAULT_REGION: "+g.pick(regions))
			f.record(f.next(), f.next(), "aws-access-key-id", s.construct, id)
			f.l("    AWS_ACCESS_KEY_ID: " + g.quote(id))
			f.record(f.next(), f.next(), "aws-secret-access-key", s.construct, key)
			f.l("    AWS_SECRET_ACCESS_KEY: " + g.quote(key))
			f.l("  script:", "    - aws s3 sync dist/ s3://"+p.group+"-"+comp+"-assets/ --delete --cache-control max-age=300",
				"    - aws cloudfront create-invalidation --distribution-id \"$CF_DISTRIBUTION\" --paths \"/*\"")
		case "vault-token":
			tok := g.vaultToken()
			f.l(p.jobName("fetch-config", comp)+":", "  stage: build", "  image: "+g.image("hashicorp/vault:1.18"), "  variables:",
				"    VAULT_ADDR: https://vault."+dom)
			f.record(f.next(), f.next(), s.kind, s.construct, tok)
			f.l("    VAULT_TOKEN: " + g.quote(tok))
			f.l("  script:", "    - vault kv get -format=json secret/"+p.group+"/"+comp+" > config.json",
				"  artifacts:", "    paths: [config.json]", "    expire_in: 1 hour")
		case "azure-client-secret":
			sec := g.azureSecret()
			name := g.pick([]string{"ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET"})
			f.l(p.jobName("terraform-plan", comp)+":", "  stage: build", "  image: "+g.image("hashicorp/terraform:1.9"), "  variables:",
				"    ARM_CLIENT_ID: "+g.uuid(), "    ARM_TENANT_ID: "+g.uuid(), "    ARM_SUBSCRIPTION_ID: "+g.uuid())
			f.record(f.next(), f.next(), s.kind, s.construct, sec)
			f.l(fmt.Sprintf("    %s: \"%s\"", name, sec))
			f.l("  script:", "    - terraform -chdir=infra/"+comp+" init -input=false", "    - terraform -chdir=infra/"+comp+" plan -input=false -out=plan.tfplan",
				"  artifacts:", "    paths:", "      - infra/"+comp+"/plan.tfplan")
		default:
			panic("lintgen: no job-variables planting for " + s.kind)
		}
	case "script":
		f.l(p.jobName(g.pick([]string{"publish", "sync", "release", "package"}), comp)+":", "  stage: deploy", "  image: "+g.image(p.lang.image), "  script:")
		var secret, line string
		switch s.kind {
		case "gitlab-pat":
			secret = g.gitlabPAT()
			if g.chance(50) {
				line = fmt.Sprintf(`    - 'curl --fail --request POST --header "PRIVATE-TOKEN: %s" "$CI_API_V4_URL/projects/$CI_PROJECT_ID/repository/tags?tag_name=v$VERSION&ref=$CI_COMMIT_SHA"'`, secret)
			} else {
				line = fmt.Sprintf("    - glab auth login --hostname gitlab.%s --token %s", dom, secret)
			}
		case "url-credentials":
			secret = g.password()
			user := g.pick([]string{"ci-bot", "deploy", "mirror", "jenkins", "build-user"})
			line = fmt.Sprintf("    - git clone --depth 1 https://%s:%s@git.%s/%s/%s-config.git config", user, secret, dom, p.group, comp)
		case "npm-token":
			secret = g.npmToken()
			if g.chance(50) {
				line = fmt.Sprintf(`    - echo "//registry.npmjs.org/:_authToken=%s" > .npmrc`, secret)
			} else {
				line = fmt.Sprintf("    - npm config set //registry.npmjs.org/:_authToken %s", secret)
			}
		case "registry-password":
			secret = g.password()
			if g.chance(70) {
				line = fmt.Sprintf("    - docker login -u %s -p %s registry.%s", g.pick([]string{"deployer", "ci", "robot-" + p.group}), secret, dom)
			} else {
				line = fmt.Sprintf("    - docker login --username ci --password '%s' registry.%s", secret, dom)
			}
		default:
			panic("lintgen: no script planting for " + s.kind)
		}
		f.l("    - echo \"publishing " + comp + " $CI_COMMIT_SHORT_SHA\"")
		f.record(f.next(), f.next(), s.kind, s.construct, secret)
		f.l(line)
		f.l("    - make publish COMPONENT=" + comp)
	case "block-scalar":
		f.l(p.jobName("deploy-host", comp)+":", "  stage: deploy", "  image: "+g.image("alpine:3.20"), "  variables:")
		g.plantVar(f, s, "    ")
		f.l("    DEPLOY_HOST: "+comp+"."+dom, "  before_script:", "    - apk add --no-cache openssh-client rsync", "    - eval $(ssh-agent -s)",
			"    - echo \"$SSH_PRIVATE_KEY\" | tr -d '\\r' | ssh-add -", "  script:",
			"    - rsync -az --delete dist/ deploy@$DEPLOY_HOST:/srv/"+comp+"/")
	case "anchor-alias":
		p.anchors++
		name := fmt.Sprintf("deploy-credentials-%d", p.anchors)
		if g.chance(50) {
			f.l(fmt.Sprintf(".%s: &%s", name, name))
			g.plantVar(f, s, "  ")
			f.l("  DEPLOY_USER: release-bot", "")
			f.l(p.jobName("publish", comp)+":", "  stage: deploy", "  variables:", "    <<: *"+name, "    CHANNEL: "+g.pick([]string{"stable", "beta", "nightly"}))
		} else {
			f.l(p.jobName("publish", comp)+":", "  stage: deploy", "  variables: &"+name)
			g.plantVar(f, s, "    ")
			f.l("  script:", "    - make publish COMPONENT="+comp, "")
			f.l(p.jobName("publish-docs", comp)+":", "  stage: deploy", "  variables: *"+name)
		}
		f.l("  script:", "    - ./scripts/publish.sh "+comp)
	case "hidden-extends":
		p.anchors++
		name := fmt.Sprintf(".publish-base-%d", p.anchors)
		f.l(name+":", "  image: "+g.image(p.lang.image), "  variables:")
		g.plantVar(f, s, "    ")
		f.l("  before_script:", "    - ./scripts/configure-publish.sh", "")
		f.l(p.jobName("publish", comp)+":", "  extends: "+name, "  stage: deploy", "  script:", "    - make publish COMPONENT="+comp)
	default:
		panic("lintgen: no planting for construct " + s.construct)
	}
	if s.construct != "anchor-alias" || g.chance(50) {
		g.rules(f, p, anchor)
	}
	f.l("")
}

// plantVar writes one variable, at indent, whose value is a secret of s's kind.
func (g *gen) plantVar(f *yfile, s *plantSpec, indent string) {
	kind := s.varKind()
	var name, value string
	switch kind {
	case "gitlab-pat":
		name, value = g.pick([]string{"GITLAB_TOKEN", "DEPLOY_TOKEN", "RELEASE_TOKEN", "GL_API_TOKEN"}), g.gitlabPAT()
	case "aws-secret-access-key":
		name, value = "AWS_SECRET_ACCESS_KEY", g.awsSecret()
	case "npm-token":
		name, value = g.pick([]string{"NPM_TOKEN", "NODE_AUTH_TOKEN"}), g.npmToken()
	case "vault-token":
		name, value = "VAULT_TOKEN", g.vaultToken()
	case "azure-client-secret":
		name, value = g.pick([]string{"ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET"}), g.azureSecret()
	case "url-credentials":
		pw := g.password()
		f.record(f.next(), f.next(), kind, s.construct, pw)
		f.l(fmt.Sprintf("%sUPSTREAM_REPO: https://mirror-bot:%s@git.%s/%s.git", indent, pw, g.pick(internalDom), g.pick(components)))
		return
	case "private-key":
		pem := g.privateKey()
		line := f.next()
		f.l(indent + g.pick([]string{"SSH_PRIVATE_KEY", "DEPLOY_KEY", "SIGNING_KEY"}) + ": |")
		for _, l := range strings.Split(pem, "\n") {
			f.l(indent + "  " + l)
		}
		f.record(line, f.line, kind, s.construct, pem)
		return
	default:
		panic("lintgen: no variable planting for " + kind)
	}
	f.record(f.next(), f.next(), kind, s.construct, value)
	if kind == "azure-client-secret" {
		f.l(fmt.Sprintf("%s%s: \"%s\"", indent, name, value)) // may start with ~ or .: always quoted
		return
	}
	f.l(indent + name + ": " + g.quote(value))
}

// quote writes a value plain, double- or single-quoted, as people do.
func (g *gen) quote(v string) string {
	switch g.r.IntN(3) {
	case 0:
		return `"` + v + `"`
	case 1:
		return "'" + v + "'"
	}
	return v
}

const (
	upper    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower    = "abcdefghijklmnopqrstuvwxyz"
	digits   = "0123456789"
	alnum    = upper + lower + digits
	base32   = upper + "234567"
	b64      = alnum + "+/"
	b64url   = alnum + "-_"
	azureSet = alnum + "_~.-"
)

// Substrings that make a value a placeholder to a scanner (EXAMPLE, test, xxxx…): a drawn value
// that contains one is drawn again, so that every planted secret is one a scanner should report.
var placeholderish = []string{"example", "test", "xxxx", "fake", "dummy", "sample", "secret", "password", "passwd", "changeme",
	"change", "redact", "placeholder", "your", "insert", "replace", "notreal", "not_real", "not-a", "token", "...", "---", "___", "~~~"}

func (g *gen) draw(n int, set string) string {
	for {
		b := make([]byte, n)
		for i := range b {
			b[i] = set[g.r.IntN(len(set))]
		}
		s := string(b)
		ok := true
		l := strings.ToLower(s)
		for _, p := range placeholderish {
			if strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok && strings.ContainsAny(s, upper) && strings.ContainsAny(s, lower+digits) {
			return s
		}
	}
}

// drawAlnumEnds draws from set with letters or digits at both ends (no leading + / - _ ~ .).
func (g *gen) drawAlnumEnds(n int, set string) string {
	for {
		s := g.draw(n, set)
		if strings.ContainsRune(alnum, rune(s[0])) && strings.ContainsRune(alnum, rune(s[n-1])) {
			return s
		}
	}
}

func (g *gen) awsKeyID() string { return "AKIA" + g.draw(16, base32) }

func (g *gen) awsSecret() string {
	for {
		s := g.drawAlnumEnds(40, b64)
		if strings.ContainsAny(s, lower) && strings.ContainsAny(s, digits) {
			return s
		}
	}
}

func (g *gen) gitlabPAT() string { return "glpat-" + g.drawAlnumEnds(20, b64url) }

func (g *gen) npmToken() string { return "npm_" + g.draw(36, alnum) }

// vaultToken: hvs. and the CAES… protobuf prefix of a Vault 1.10+ service token, 95 characters.
func (g *gen) vaultToken() string { return "hvs.CAESI" + g.drawAlnumEnds(86, b64url) }

// azureSecret: an Entra ID client secret, three characters, a digit, Q~, then 34 more.
func (g *gen) azureSecret() string {
	return g.draw(3, alnum) + string(digits[g.r.IntN(10)]) + "Q~" + g.drawAlnumEnds(34, azureSet)
}

func (g *gen) password() string { return g.draw(12+g.r.IntN(13), alnum) }

func (g *gen) uuid() string {
	h := g.hex(32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// privateKey is PEM armour around random bytes: the shape of a key, not a key.
func (g *gen) privateKey() string {
	label := g.pick([]string{"RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"})
	n := 120 + g.r.IntN(1100)
	raw := make([]byte, n)
	for i := range raw {
		raw[i] = byte(g.r.IntN(256))
	}
	body := base64.StdEncoding.EncodeToString(raw)
	lines := []string{"-----BEGIN " + label + "-----"}
	for len(body) > 64 {
		lines = append(lines, body[:64])
		body = body[64:]
	}
	lines = append(lines, body, "-----END "+label+"-----")
	return strings.Join(lines, "\n")
}
