package lint

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// plainHTTPExchange reports an address over plain http that a job sends
// an ID token, or a token exchanged for one, to.
var plainHTTPExchange = plainHTTPExchangeRule{rule{Meta{
	ID:    "plain-http-exchange",
	Title: "ID token or Vault token sent over plain http",
	Description: "The job logs in to Vault or OpenBao, exchanges its ID token with a token exchange server, AWS STS, Google's STS or Entra ID, or sends the ID token or a Vault token with curl, at an http:// address. " +
		"The token and the credentials returned for it cross the network unencrypted: anyone on the path reads them and can use them until they expire. " +
		"Use https:// (serve Vault with TLS). Addresses on the job's own machine (localhost, 127.0.0.0/8, ::1, 0.0.0.0) are not reported; a service of the job is reported as info, since its traffic stays on the runner.",
	Severity: Major,
	CWE:      []string{"CWE-319"},
	Group:    "oidc",
}}}

type plainHTTPExchangeRule struct{ rule }

// endpoint is a service that receives the ID token, or a token exchanged
// for it.
type endpoint struct {
	does    string // what the job does there: "logs in to Vault at"
	carries string // what crosses the network
	fix     string // what to do besides https, "" or ending in " and "
}

var (
	vaultEndpoint = endpoint{"logs in to Vault at", "the ID token it logs in with and the Vault token it gets", "serve Vault with TLS and "}
	stsEndpoint   = endpoint{"exchanges its ID token at", "the ID token and the token issued for it", ""}
	awsEndpoint   = endpoint{"calls AWS STS at", "the ID token and the AWS credentials STS returns", ""}
	gcpEndpoint   = endpoint{"calls Google's STS at", "the ID token and the access token STS returns", ""}
	iamEndpoint   = endpoint{"calls Google's IAM Credentials API at", "the federated access token and the service account token it returns", ""}
	entraEndpoint = endpoint{"calls Entra ID at", "the ID token and the access token Entra ID returns", ""}
)

// endpointVars are the variables that hold such an address: keyless's own
// (the EnvVars of internal/cli), the Vault and OpenBao CLIs', GitLab's
// for secrets: (https://docs.gitlab.com/ci/secrets/hashicorp_vault/), the
// AWS SDKs' and the Azure SDKs'.
var endpointVars = map[string]endpoint{
	"VAULT_ADDR":                          vaultEndpoint,
	"BAO_ADDR":                            vaultEndpoint,
	"VAULT_SERVER_URL":                    vaultEndpoint,
	"KEYLESS_VAULT_ADDR":                  vaultEndpoint,
	"KEYLESS_STS_TOKEN_URL":               stsEndpoint,
	"KEYLESS_AWS_STS_ENDPOINT":            awsEndpoint,
	"AWS_ENDPOINT_URL_STS":                awsEndpoint,
	"KEYLESS_GCP_STS_ENDPOINT":            gcpEndpoint,
	"KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT": iamEndpoint,
	"KEYLESS_AZURE_AUTHORITY_HOST":        entraEndpoint,
	"AZURE_AUTHORITY_HOST":                entraEndpoint,
}

// endpointVarNames are endpointVars' names.
var endpointVarNames = slices.Sorted(maps.Keys(endpointVars))

// keylessFlags are keyless's flags for those addresses, by subcommand
// (internal/cli).
var keylessFlags = map[string]map[string]endpoint{
	"aws":   {"sts-endpoint": awsEndpoint},
	"gcp":   {"sts-endpoint": gcpEndpoint, "iamcredentials-endpoint": iamEndpoint},
	"azure": {"authority-host": entraEndpoint},
	"sts":   {"token-url": stsEndpoint},
	"vault": {"addr": vaultEndpoint},
}

// componentInputs are the keyless components' inputs for them
// (templates/<name>.yml).
var componentInputs = map[string]map[string]endpoint{
	"aws":   {"sts_endpoint": awsEndpoint},
	"azure": {"authority_host": entraEndpoint},
	"sts":   {"token_url": stsEndpoint},
	"vault": {"addr": vaultEndpoint},
}

// bearerVars are tokens a job may send with curl besides its ID tokens.
var bearerVars = []string{"CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2", "VAULT_TOKEN", "BAO_TOKEN"}

// plainURL is an http:// address a job sends a token to.
type plainURL struct {
	pos   pipeline.Pos
	where string // "global variable VAULT_ADDR", "keyless vault --addr"; "" for a curl URL
	u     *url.URL
	ep    endpoint
}

func (r plainHTTPExchangeRule) Check(p *Pass) {
	var sites siteFindings
	// Each line split once: jobs share their lines.
	lineCmds := map[*pipeline.Node][]string{}
	for _, ji := range p.jobInfos() {
		var found []plainURL
		vars := ji.vars
		if !ji.setsAny(endpointVarNames) {
			vars = nil // asked once, not for each variable
		}
		for i, v := range vars {
			ep, ok := endpointVars[v.Name]
			if !ok || overridden(ji.vars[i+1:], v.Name) {
				continue
			}
			if u := plainHTTP(v.Value.Value); u != nil {
				found = append(found, plainURL{valuePos(p.Pipeline, v.Value, u), varContext(&v) + " " + v.Name, u, ep})
			}
		}
		for _, inc := range p.Pipeline.Includes {
			name := keylessComponent(inc)
			if name == "" || !ji.extendsAny(components[name].hidden) {
				continue
			}
			for in, ep := range componentInputs[name] {
				if u := plainHTTP(inc.Inputs[in]); u != nil {
					found = append(found, plainURL{inc.Pos, "input " + in + " of the keyless " + name + " component", u, ep})
				}
			}
		}
		for _, l := range ji.lines {
			// scriptURLs finds a literal http:// address, or a curl or
			// wget that expands a variable holding one.
			if !ji.lineMayHaveAny(l, "http://", "curl", "wget") {
				continue
			}
			cmds, ok := lineCmds[l]
			if !ok {
				cmds = shellCommands(l.Value)
				lineCmds[l] = cmds
			}
			for _, cmd := range cmds {
				for _, u := range scriptURLs(ji, cmd) {
					u.pos = commandAt(p.Pipeline, l, cmd) // only where a URL is: At reads the source
					found = append(found, u)
				}
			}
		}
		aliases := serviceAliases(ji.job.Node)
		for _, f := range found {
			if exchange.Loopback(f.u.Hostname()) {
				continue
			}
			f := f
			shown, secure := displayURL(f.u)
			if f.where != "" {
				shown += " (" + f.where + ")"
			}
			key := f.ep.does + "\x00" + f.where + "\x00" + f.u.Host
			if alias := aliases[strings.ToLower(f.u.Hostname())]; alias != "" {
				sites.add(ji.job.Name, Finding{Pos: f.pos, Key: "service\x00" + key, Severity: Info},
					func(jobs string) string {
						return fmt.Sprintf("%s %s %s, the job's service %s, over plain http: the traffic stays on the runner, between the job and the service container, where %s can still be read; to test with TLS, %suse %s",
							jobs, f.ep.does, shown, alias, f.ep.carries, f.ep.fix, secure)
					})
				continue
			}
			sites.add(ji.job.Name, Finding{Pos: f.pos, Key: key},
				func(jobs string) string {
					return fmt.Sprintf("%s %s %s over plain http: %s cross the network unencrypted, for anyone on the path to read and use; %suse %s",
						jobs, f.ep.does, shown, f.ep.carries, f.ep.fix, secure)
				})
		}
	}
	sites.report(p)
}

// scriptURLs returns the http addresses one shell command sends a token
// to: an endpoint variable it sets, a keyless, vault or aws flag, or a
// curl or wget that carries a token.
func scriptURLs(ji *jobInfo, cmd string) []plainURL {
	var out []plainURL
	add := func(where, v string, ep endpoint) {
		if u := plainHTTP(v); u != nil {
			out = append(out, plainURL{where: where, u: u, ep: ep})
		}
	}
	if strings.IndexByte(cmd, '=') >= 0 {
		for name, ep := range endpointVars {
			if v, ok := assignedValue(cmd, name); ok {
				add(name+" set in the script", v, ep)
			}
		}
	}
	// The rest reads words of a few commands only: most lines run none.
	if !strings.Contains(cmd, "keyless") && !strings.Contains(cmd, "vault") && !strings.Contains(cmd, "bao") &&
		!strings.Contains(cmd, "aws") && !strings.Contains(cmd, "curl") && !strings.Contains(cmd, "wget") {
		return out
	}
	f := shellFields(cmd)
	for i, w := range f {
		if path.Base(w) == "keyless" && i+1 < len(f) {
			for flag, ep := range keylessFlags[f[i+1]] {
				if v, ok := flagValue(f[i+2:], flag); ok {
					add("keyless "+f[i+1]+" --"+flag, v, ep)
				}
			}
		}
	}
	for _, bin := range []string{"vault", "bao"} {
		if runs(cmd, bin+" ") {
			if v, ok := flagValue(f, "address"); ok {
				add(bin+" -address", v, vaultEndpoint)
			}
		}
	}
	if runs(cmd, "aws ") && strings.Contains(cmd, "assume-role-with-web-identity") {
		if v, ok := flagValue(f, "endpoint-url"); ok {
			add("aws sts assume-role-with-web-identity --endpoint-url", v, awsEndpoint)
		}
	}
	if runs(cmd, "curl") || runs(cmd, "wget") {
		out = append(out, sentTokens(ji, cmd, f)...)
	}
	return out
}

// sentTokens returns the http addresses a curl or wget command sends an ID
// token (or a Vault token) to: literal URLs, and variables the job sets
// to one (an endpoint variable is reported where it is set).
func sentTokens(ji *jobInfo, cmd string, fields []string) []plainURL {
	tok, what := "", "the ID token"
	for _, t := range ji.tokens {
		if refersTo(cmd, t.name) {
			tok = t.name
			break
		}
	}
	for _, t := range bearerVars {
		if tok != "" {
			break
		}
		if refersTo(cmd, t) {
			tok = t
			if t == "VAULT_TOKEN" || t == "BAO_TOKEN" {
				what = "the Vault token"
			}
		}
	}
	if tok == "" {
		return nil
	}
	tool := "curl"
	if !runs(cmd, "curl") {
		tool = "wget"
	}
	ep := endpoint{"sends " + what + " $" + tok + " with " + tool + " to", "the token and the response", ""}
	var out []plainURL
	for _, w := range fields {
		if u := plainHTTP(w); u != nil {
			out = append(out, plainURL{u: u, ep: ep})
		}
	}
	for _, ref := range varRefs(cmd) {
		if _, ok := endpointVars[ref]; ok || ref == tok {
			continue
		}
		if v := ji.lookup(ref); v != nil {
			if u := plainHTTP(v.Value.Value); u != nil {
				out = append(out, plainURL{where: "$" + ref, u: u, ep: ep})
			}
		}
	}
	return out
}

// overridden reports whether later, a variable the job sees in place of
// one named name is set: its own over a global one. A rules: variable may
// not apply, so it overrides nothing.
func overridden(later []variable, name string) bool {
	for _, v := range later {
		if v.Name == name && varContext(&v) != "rules variable" {
			return true
		}
	}
	return false
}

// plainHTTP returns v as a URL when it is one over plain http whose host
// is written out (not a variable); nil otherwise.
func plainHTTP(v string) *url.URL {
	v = strings.Trim(strings.TrimSpace(v), "\"'")
	if len(v) < len("http://x") || !strings.EqualFold(v[:len("http://")], "http://") {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Hostname() == "" || strings.ContainsAny(u.Host, "$%{}[]") && !strings.HasPrefix(u.Host, "[") {
		return nil
	}
	return u
}

// displayURL returns u without user info, query or fragment (which can
// hold secrets), and the same over https.
func displayURL(u *url.URL) (plain, secure string) {
	rest := u.Host + u.EscapedPath()
	return "http://" + rest, "https://" + rest
}

// valuePos is where a variable's URL is written: for a value taken from
// spec:inputs, the input's value (found by its text), as for secrets.
func valuePos(p *pipeline.Pipeline, n *pipeline.Node, u *url.URL) pipeline.Pos {
	if strings.Contains(n.Raw, "$[[") {
		if at, ok := (&secretScan{p: p}).find(u.Host, n.Pos.File); ok {
			return at
		}
	}
	return n.Pos
}

// keylessComponent returns the name of the keyless component an include
// entry reads ("vault" for $CI_SERVER_FQDN/keyless-ci/keyless/vault@1), or
// "".
func keylessComponent(inc *pipeline.Include) string {
	if inc.Kind != pipeline.IncludeComponent {
		return ""
	}
	loc, _, _ := strings.Cut(inc.Location, "@")
	dir, name := path.Split(loc)
	if path.Base(strings.TrimSuffix(dir, "/")) != "keyless" {
		return ""
	}
	if _, ok := componentInputs[name]; !ok {
		return ""
	}
	return name
}

// serviceAliases maps the host names of a job's services (lower case) to
// the name the message shows: each alias: (several are separated by
// commas or blanks), and the names the runner derives from the image
// without its tag and registry port (registry.example.com:5000/group/vault:1
// is registry.example.com__group__vault and
// registry.example.com-group-vault;
// https://docs.gitlab.com/ci/services/#accessing-the-services).
func serviceAliases(job *pipeline.Node) map[string]string {
	svcs := items(job.Get("services"))
	if len(svcs) == 0 {
		return nil // most jobs: no map to make
	}
	out := map[string]string{}
	for _, svc := range svcs {
		img := svc
		if svc.Kind == pipeline.Map {
			img = svc.Get("name")
			for _, a := range strings.FieldsFunc(svc.Get("alias").String(), func(r rune) bool { return r == ',' || r == ' ' }) {
				out[strings.ToLower(a)] = a
			}
		}
		name := img.String()
		if name == "" || strings.Contains(name, "$") {
			continue
		}
		name, _, _ = strings.Cut(name, "@")
		if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
			name = name[:i] // the tag
		}
		if host, rest, ok := strings.Cut(name, "/"); ok {
			host, _, _ = strings.Cut(host, ":") // the registry's port
			name = host + "/" + rest
		}
		for _, sep := range []string{"__", "-"} {
			a := strings.ReplaceAll(name, "/", sep)
			out[strings.ToLower(a)] = a
		}
	}
	return out
}

// shellCommands splits a script line into its shell lines, joining lines
// continued with a backslash (or PowerShell's backtick).
func shellCommands(s string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimRight(l, " \t\r")
		if strings.HasSuffix(t, "\\") || strings.HasSuffix(t, "`") {
			cur.WriteString(t[:len(t)-1] + " ")
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// shellFields splits a command into words at blanks and shell operators,
// with quotes removed from each word's ends.
func shellFields(cmd string) []string {
	f := strings.FieldsFunc(cmd, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ';' || r == '|' || r == '&' || r == '(' || r == ')' || r == '`'
	})
	for i := range f {
		f[i] = strings.Trim(f[i], "\"'")
	}
	return f
}

// flagValue returns the value of -name or --name in words (as
// --name=VALUE or --name VALUE), up to a "--" that ends the flags.
func flagValue(words []string, name string) (string, bool) {
	for i, w := range words {
		if w == "--" {
			break
		}
		if !strings.HasPrefix(w, "-") {
			continue
		}
		w = strings.TrimPrefix(strings.TrimPrefix(w, "-"), "-")
		if v, ok := strings.CutPrefix(w, name+"="); ok {
			return strings.Trim(v, "\"'"), true
		}
		if w == name && i+1 < len(words) {
			return words[i+1], true
		}
	}
	return "", false
}

// assignedValue returns the value a shell line assigns to name
// (NAME=v, export NAME="v", $env:NAME = 'v', set NAME=v), up to the
// first blank or quote.
func assignedValue(line, name string) (string, bool) {
	for i := strings.Index(line, name); i >= 0; {
		end := i + len(name)
		// $NAME and ${NAME} read the variable; $env:NAME assigns it.
		before := line[:i]
		assigns := i == 0 || !isNameByte(line[i-1]) && line[i-1] != '$' && line[i-1] != '{' || strings.HasSuffix(before, "$env:")
		if assigns {
			rest := strings.TrimLeft(line[end:], " ")
			if v, ok := strings.CutPrefix(rest, "="); ok && !strings.HasPrefix(v, "=") {
				v = strings.TrimLeft(v, " \"'")
				if j := strings.IndexAny(v, " \t\"';|&)`"); j >= 0 {
					v = v[:j]
				}
				return v, true
			}
		}
		j := strings.Index(line[end:], name)
		if j < 0 {
			break
		}
		i = end + j
	}
	return "", false
}
