package detect

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// sample is one line of testdata/samples/<detector-id>.txt.
type sample struct {
	file  string
	line  int
	tp    bool
	ctx   Context
	value string
	want  []span
}

type span struct {
	Detector   string
	Start, End int
}

const (
	openMark  = "⟦"
	closeMark = "⟧"
	idMark    = "»"
)

func loadSamples(t testing.TB) map[string][]sample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "samples", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	out := make(map[string][]sample)
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".txt")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n := 0
		for sc.Scan() {
			n++
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			head, raw, ok := strings.Cut(line, "\t")
			if !ok {
				t.Fatalf("%s:%d: no tab", f, n)
			}
			s := sample{file: f, line: n}
			for i, fld := range strings.Fields(head) {
				switch {
				case i == 0 && (fld == "tp" || fld == "fp"):
					s.tp = fld == "tp"
				case fld == "script":
					s.ctx.Script = true
				case strings.HasPrefix(fld, "key="):
					s.ctx.Key = fld[4:]
				case strings.HasPrefix(fld, "alias="):
					s.ctx.Alias = fld[6:]
				default:
					t.Fatalf("%s:%d: bad field %q", f, n, fld)
				}
			}
			s.value, s.want = parseMarked(t, unescape(raw), id)
			if s.tp && len(s.want) == 0 {
				t.Fatalf("%s:%d: tp without ⟦ ⟧", f, n)
			}
			if !s.tp && len(s.want) != 0 {
				t.Fatalf("%s:%d: fp with ⟦ ⟧", f, n)
			}
			out[id] = append(out[id], s)
		}
	}
	return out
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseMarked removes the ⟦ ⟧ markers and returns the spans they enclosed.
func parseMarked(t testing.TB, s, id string) (string, []span) {
	var b strings.Builder
	var spans []span
	for {
		i := strings.Index(s, openMark)
		if i < 0 {
			b.WriteString(s)
			return b.String(), spans
		}
		b.WriteString(s[:i])
		s = s[i+len(openMark):]
		j := strings.Index(s, closeMark)
		if j < 0 {
			t.Fatalf("unclosed marker in %q", s)
		}
		inner := s[:j]
		s = s[j+len(closeMark):]
		det := id
		if k := strings.Index(inner, idMark); k >= 0 {
			det, inner = inner[:k], inner[k+len(idMark):]
		}
		start := b.Len()
		b.WriteString(inner)
		spans = append(spans, span{det, start, b.Len()})
	}
}

func spans(ms []Match) []span {
	var out []span
	for _, m := range ms {
		out = append(out, span{m.Detector, m.Start, m.End})
	}
	return out
}

func TestSamples(t *testing.T) {
	all := loadSamples(t)
	for _, info := range Detectors() {
		var tp, fp int
		for _, s := range all[info.ID] {
			if s.tp {
				tp++
			} else {
				fp++
			}
		}
		if tp == 0 || fp == 0 {
			t.Errorf("detector %s: %d true-positive and %d false-positive samples, want at least one of each", info.ID, tp, fp)
		}
	}
	for id, ss := range all {
		if _, ok := byID[id]; !ok {
			t.Errorf("testdata/samples/%s.txt: no such detector", id)
			continue
		}
		for _, s := range ss {
			got := Scan(s.value, s.ctx)
			if diff := cmp.Diff(s.want, spans(got)); diff != "" {
				t.Errorf("%s:%d: Scan(%q, %+v) mismatch (-want +got):\n%s", s.file, s.line, short(s.value), s.ctx, diff)
			}
			for _, m := range got {
				if m.Kind != byID[m.Detector].Kind {
					t.Errorf("%s:%d: %s has kind %q, want %q", s.file, s.line, m.Detector, m.Kind, byID[m.Detector].Kind)
				}
				if m.Confidence < Low || m.Confidence > High {
					t.Errorf("%s:%d: %s has confidence %d", s.file, s.line, m.Detector, m.Confidence)
				}
			}
		}
	}
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

var hintRe = regexp.MustCompile(`(?s)^(?:(.+)… )?\((\d+) chars\)$`)

// checkNoLeak fails when a Match carries more of the secret than its first
// four characters: the Hint must be exactly Hint(secret) and show at most
// four characters, and every other field must be one of the registry's
// fixed texts, so nothing but Start and End depends on the value.
func checkNoLeak(t testing.TB, value string, m Match) {
	t.Helper()
	secret := value[m.Start:m.End]
	if m.Hint != Hint(secret) {
		t.Fatalf("%s: Hint %q, want %q", m.Detector, m.Hint, Hint(secret))
	}
	g := hintRe.FindStringSubmatch(m.Hint)
	if g == nil {
		t.Fatalf("%s: Hint %q has the wrong form", m.Detector, m.Hint)
	}
	if utf8.RuneCountInString(g[1]) > 4 {
		t.Fatalf("%s: Hint %q shows more than four characters", m.Detector, m.Hint)
	}
	if g[1] != "" && !strings.HasPrefix(secret, g[1]) {
		t.Fatalf("%s: Hint %q does not start the secret", m.Detector, m.Hint)
	}
	if d, ok := byID[m.Detector]; !ok || m.Kind != d.Kind {
		t.Fatalf("%s: unknown detector or kind %q", m.Detector, m.Kind)
	}
	// Descriptions are fixed per detector, never built from the value.
	if !knownDescription(m.Detector, m.Description) {
		t.Fatalf("%s: description %q is not one of the detector's fixed texts", m.Detector, m.Description)
	}
}

func knownDescription(id, desc string) bool {
	if byID[id].Description == desc {
		return true
	}
	switch desc {
	case descAWSKeyID, descAWSTempKeyID, descVaultService, descVaultBatch, descVaultRecovery, descStripeTest:
		return true
	}
	for _, d := range privateKeyLabels {
		if d == desc {
			return true
		}
	}
	return false
}

func TestNoLeak(t *testing.T) {
	for _, ss := range loadSamples(t) {
		for _, s := range ss {
			for _, m := range Scan(s.value, s.ctx) {
				checkNoLeak(t, s.value, m)
			}
		}
	}
}

func TestHint(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"AKIAVQJXXVBOTHD0WTFL", "AKIA… (20 chars)"},
		{"short", "(5 chars)"},
		{"elevenchars", "(11 chars)"},
		{"twelve-chars", "twel… (12 chars)"},
		{"ééééééééééééé", "éééé… (13 chars)"},
		{"", "(0 chars)"},
	} {
		if got := Hint(c.in); got != c.want {
			t.Errorf("Hint(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEntropy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
	}{
		{"", 0}, {"aaaa", 0}, {"ab", 1}, {"abcd", 2}, {"0123456789abcdef", 4},
	} {
		if got := Entropy(c.in); got != c.want {
			t.Errorf("Entropy(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestSecretName(t *testing.T) {
	yes := []string{
		"PASSWORD", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "API_KEY", "apiKey", "clientSecret",
		"GITLAB_TOKEN", "CI_JOB_TOKEN", "PRIVATE_KEY", "SSH_PRIVATE_KEY", "ACCESS_KEY", "GOOGLE_CREDENTIALS",
		"DOCKER_AUTH_CONFIG", "MYSQL_PWD", "PASSWD", "ARM_CLIENT_SECRET", "NPM_TOKEN", "deploy-key",
		"SECRET_KEY", "VAULT_TOKEN", "POSTGRES_PASSWORD",
	}
	no := []string{
		"", "TOKEN_URL", "PASSWORD_FILE", "SECRET_NAME", "AWS_ACCESS_KEY_ID", "KEY_PATH", "VAULT_SERVER_URL",
		"AWS_ROLE_ARN", "AWS_REGION", "DB_USER", "REGISTRY_USERNAME", "TOKEN_ENDPOINT", "CACHE_KEY", "key",
		"SSH_PUBLIC_KEY", "SECRET_DETECTION_DISABLED", "SECRETS_ANALYZER_VERSION", "AUTHOR", "PASSTHROUGH",
		"KUBERNETES_SERVICE_ACCOUNT", "SECRET_DETECTION_EXCLUDED_PATHS", "AZURE_CLIENT_ID",
		"FF_USE_GIT_PROACTIVE_AUTH", "AIGW_AUTH__BYPASS_EXTERNAL",
	}
	for _, n := range yes {
		if !SecretName(n) {
			t.Errorf("SecretName(%q) = false, want true", n)
		}
	}
	for _, n := range no {
		if SecretName(n) {
			t.Errorf("SecretName(%q) = true, want false", n)
		}
	}
}

func TestPlaceholder(t *testing.T) {
	yes := []string{
		"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "xxxxxxxxxxxx", "XXXXXXXX",
		"<token>", "<your-token>", "${TOKEN}", "$TOKEN", "changeme", "password", "secret", "test", "example",
		"REDACTED", "dummy", "fake", "***", "aaaaaaaaaaaa", "1234567890", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
		"-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----", "sha256:0123456789abcdef",
		"c47f5edbada514e287ba054769ba41cbb44f0753", "8c3f2d1e-4b5a-4c6d-9e8f-0a1b2c3d4e5f",
		"https://gitlab.com/group/project", "$CI_JOB_JWT", "%24VAR", "",
		"vault:projects/data/12345/db#DB_PASS", "production/db/password@ops", "kv/data/ci/api-key",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/api-AbCdEf",
		"projects/example-4821/secrets/api-key/versions/3", "NPM_TOKEN_PROD", "stripe-api-key-prod",
		"@Microsoft.KeyVault(SecretUri=https://kv-prod.vault.azure.net/secrets/api-key/)",
	}
	no := []string{
		"AKIAVQJXXVBOTHD0WTFL", "y1HIPUNsDW437HCx15jG", "glpat-_8P0GwAESV5nkthBGJd8",
		"https://deploy:y1HIPUNsDW437HCx15jG@git.corp.internal/",
		"Kq8sLw2ZpX4vRt7Y/bN3mQ9z@ops", "vault-sytZZ6pgfRfnwOo0Te2eV9Rm", "sytZZ6pgfRfnwOo0TOKEN",
	}
	for _, v := range yes {
		if !Placeholder(v) {
			t.Errorf("Placeholder(%q) = false, want true", v)
		}
	}
	for _, v := range no {
		if Placeholder(v) {
			t.Errorf("Placeholder(%q) = true, want false", v)
		}
	}
}

// TestURLCredentialsHost: a URL's password match says where the password
// goes and whether it is its user name, for lint to tell a throw-away
// service database (issue 15).
func TestURLCredentialsHost(t *testing.T) {
	for _, c := range []struct {
		value, host string
		same        bool
	}{
		{"postgres://keycloak:keycloak@postgres:5432/keycloak", "postgres", true},
		{"mysql://app_user:app_user@127.0.0.1/app", "127.0.0.1", true},
		{"postgres://orbit:orbit@[::1]:5432/app", "::1", true},
		{"postgresql://runner:Xk29fPq7LmZ3@db.example.com/test", "db.example.com", false},
		{"amqp://guest:CfqcrFfmEIHLKX@rabbit", "rabbit", false},
	} {
		ms := Scan(c.value, Context{Key: "DATABASE_URL"})
		if len(ms) != 1 || ms[0].Detector != "url-credentials" {
			t.Errorf("Scan(%q) = %+v, want one url-credentials match", c.value, ms)
			continue
		}
		if ms[0].Host != c.host || ms[0].SameUser != c.same {
			t.Errorf("Scan(%q): host %q same user %v, want %q %v", c.value, ms[0].Host, ms[0].SameUser, c.host, c.same)
		}
	}
}

func TestPair(t *testing.T) {
	id := Scan("AKIAVQJXXVBOTHD0WTFL", Context{Key: "AWS_ACCESS_KEY_ID"})
	key := Scan("BPs0jSO2Jkf08MMF1ulMMCw3XVy27dFanUrOSE62", Context{Key: "AWS_SECRET_ACCESS_KEY"})
	if len(id) != 1 || len(key) != 1 || id[0].Paired || key[0].Paired {
		t.Fatalf("before Pair: %+v %+v", id, key)
	}
	Pair(id, key)
	if !id[0].Paired || !key[0].Paired {
		t.Errorf("after Pair: %+v %+v", id, key)
	}
	both := Scan("aws_access_key_id=AKIAVQJXXVBOTHD0WTFL aws_secret_access_key=BPs0jSO2Jkf08MMF1ulMMCw3XVy27dFanUrOSE62", Context{})
	if len(both) != 2 || !both[0].Paired || !both[1].Paired {
		t.Errorf("Scan of one value with both: %+v", both)
	}
	lone := Scan("AKIAVQJXXVBOTHD0WTFL", Context{})
	other := Scan("glpat-_8P0GwAESV5nkthBGJd8", Context{})
	Pair(lone, other)
	if lone[0].Paired {
		t.Errorf("key id without a secret key was paired")
	}
}

func TestDetectors(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Detectors() {
		if d.ID == "" || d.Kind == "" || d.Description == "" {
			t.Errorf("incomplete detector %+v", d)
		}
		if !regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`).MatchString(d.ID) {
			t.Errorf("detector id %q is not kebab-case", d.ID)
		}
		seen[d.ID] = true
	}
	for _, id := range []string{AWSAccessKeyIDDetector, AWSSecretAccessKeyDetector} {
		if !seen[id] {
			t.Errorf("missing detector %s", id)
		}
	}
}

const corpusDir = "../../../shared/corpus"

// corpusFiles returns the YAML files of the shared corpus, or skips.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Skipf("corpus not available at %s: %v", corpusDir, err)
	}
	sort.Strings(files)
	return files
}

// corpusLine is a line of a corpus file: the whole line (scanned with an
// empty Context) and, for "KEY: value" lines, the key and its value.
type corpusLine struct {
	file       string
	n          int
	text       string
	key, value string
}

var keyValueRe = regexp.MustCompile(`^\s*(?:-\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*:\s+(.+?)\s*$`)

func corpusLines(t testing.TB) []corpusLine {
	var out []corpusLine
	for _, f := range corpusFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			l := corpusLine{file: strings.TrimPrefix(f, corpusDir+"/"), n: i + 1, text: line}
			if m := keyValueRe.FindStringSubmatch(line); m != nil {
				l.key, l.value = m[1], m[2]
			}
			out = append(out, l)
		}
	}
	return out
}

// TestCorpus scans every line of the real-world corpus. The manifest notes
// no literal secret in it, so nothing may be found with high confidence.
func TestCorpus(t *testing.T) {
	lines := corpusLines(t)
	var n int
	for _, l := range lines {
		for _, m := range Scan(l.text, Context{}) {
			n++
			t.Logf("%s:%d: [empty context] %s %s conf=%d %s", l.file, l.n, m.Detector, m.Hint, m.Confidence, m.Description)
			if m.Confidence == High {
				t.Errorf("%s:%d: high-confidence %s on the corpus (%s)", l.file, l.n, m.Detector, m.Hint)
			}
		}
		if l.key == "" {
			continue
		}
		for _, m := range Scan(l.value, Context{Key: l.key}) {
			n++
			t.Logf("%s:%d: [key %s] %s %s conf=%d %s", l.file, l.n, l.key, m.Detector, m.Hint, m.Confidence, m.Description)
			if m.Confidence == High {
				t.Errorf("%s:%d: high-confidence %s on the corpus (%s)", l.file, l.n, m.Detector, m.Hint)
			}
		}
	}
	t.Logf("%d lines scanned, %d matches", len(lines), n)
}

func FuzzScan(f *testing.F) {
	for _, ss := range loadSamples(f) {
		for _, s := range ss {
			f.Add(s.value, s.ctx.Key)
		}
	}
	f.Add("", "")
	f.Add("-----BEGIN PRIVATE KEY-----", "")
	f.Add("https://a:b@", "URL")
	f.Fuzz(func(t *testing.T, value, key string) {
		for _, ctx := range []Context{{Key: key}, {Key: key, Script: true}, {Key: key, Alias: "db"}} {
			ms := Scan(value, ctx)
			prev := 0
			for i, m := range ms {
				if m.Start < 0 || m.End > len(value) || m.Start >= m.End {
					t.Fatalf("match %d out of range: %+v (len %d)", i, m, len(value))
				}
				if m.Start < prev {
					t.Fatalf("matches overlap or are unsorted: %+v", ms)
				}
				prev = m.End
				if _, ok := byID[m.Detector]; !ok {
					t.Fatalf("unknown detector %q", m.Detector)
				}
				checkNoLeak(t, value, m)
			}
		}
	})
}

func BenchmarkScan(b *testing.B) {
	lines := corpusLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l.text))
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			Scan(l.text, Context{})
		}
	}
}

// BenchmarkScanValues scans the corpus the way lint does: each mapping
// value with its key as context.
func BenchmarkScanValues(b *testing.B) {
	lines := corpusLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l.text))
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			if l.key != "" {
				Scan(l.value, Context{Key: l.key})
			} else {
				Scan(l.text, Context{})
			}
		}
	}
}
