package doctor_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/doctor"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// now is the fake clock of the issuer and of doctor.
var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func issuer(t *testing.T) *oidctest.Issuer {
	t.Helper()
	iss := oidctest.NewServer(t)
	iss.Now = func() time.Time { return now }
	return iss
}

// job is a job's variables: GitLab's predefined CI_JOB_STARTED_AT and
// CI_JOB_TIMEOUT (https://docs.gitlab.com/ci/variables/predefined_variables/)
// plus kv.
func job(started time.Time, timeout string, kv ...string) func(string) string {
	m := map[string]string{"CI_JOB_STARTED_AT": started.Format(time.RFC3339), "CI_JOB_TIMEOUT": timeout}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func run(t *testing.T, o doctor.Options) doctor.Report {
	t.Helper()
	o.Now = func() time.Time { return now }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep := doctor.Run(ctx, o)
	for _, v := range rep.Verdicts {
		for _, s := range []string{v.Check, v.Detail, v.Fix} {
			if strings.Count(s, ".") >= 2 && strings.Contains(s, "eyJ") {
				t.Errorf("a verdict carries a token: %q", s)
			}
		}
	}
	return rep
}

// statuses is "status check" for each verdict, in order.
func statuses(rep doctor.Report) []string {
	var out []string
	for _, v := range rep.Verdicts {
		out = append(out, string(v.Status)+" "+v.Check)
	}
	return out
}

func verdict(t *testing.T, rep doctor.Report, check string) doctor.Verdict {
	t.Helper()
	for _, v := range rep.Verdicts {
		if v.Check == check {
			return v
		}
	}
	t.Fatalf("no %q verdict in %q", check, statuses(rep))
	return doctor.Verdict{}
}

func TestSoundJob(t *testing.T) {
	iss := issuer(t)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{"sts.amazonaws.com"}})
	rep := run(t, doctor.Options{
		Providers: []doctor.Provider{{Name: "aws", TokenVar: "AWS_ID_TOKEN", Audience: "sts.amazonaws.com"}},
		Getenv:    job(now, "1800", "AWS_ID_TOKEN", tok, "CI_SERVER_URL", iss.URL),
	})
	want := []string{
		"ok token $AWS_ID_TOKEN",
		"ok lifetime $AWS_ID_TOKEN",
		"ok discovery " + iss.URL,
		"ok keys " + iss.URL,
		"ok signature $AWS_ID_TOKEN",
		"ok audience aws",
		"info protected ref $AWS_ID_TOKEN",
	}
	if diff := cmp.Diff(want, statuses(rep)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if rep.Failed() != 0 {
		t.Errorf("Failed() = %d", rep.Failed())
	}
	if got, want := verdict(t, rep, "lifetime $AWS_ID_TOKEN").Detail, "expires in 1h0m0s; the job may run 30m0s more (CI_JOB_TIMEOUT)"; got != want {
		t.Errorf("lifetime detail = %q, want %q", got, want)
	}
}

// The lifetime check measures the token against idtoken.JobDeadline, the
// job's end the exchanges' lifetime warning uses too (issue 14).
func TestLifetime(t *testing.T) {
	iss := issuer(t)
	fresh := iss.MustMint(t, oidctest.Job{}) // lives an hour from now
	expired := iss.MustMint(t, oidctest.Job{IssuedAt: now.Add(-3 * time.Hour)})
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		status doctor.Status
		detail string
	}{
		{"within the job", job(now.Add(-10*time.Minute), "3600", "KEYLESS_ID_TOKEN", fresh), doctor.OK, "expires in 1h0m0s; the job may run 50m0s more (CI_JOB_TIMEOUT)"},
		{"the job outlives the token", job(now, "36000", "KEYLESS_ID_TOKEN", fresh), doctor.Warn, "expires in 1h0m0s; the job may run 10h0m0s more (CI_JOB_TIMEOUT)"},
		{"the job is past its timeout", job(now.Add(-2*time.Hour), "3600", "KEYLESS_ID_TOKEN", fresh), doctor.OK, "expires in 1h0m0s; the job may run 0s more (CI_JOB_TIMEOUT)"},
		// Without CI_JOB_STARTED_AT the job's end is unknown: no
		// comparison, as for the exchanges' warning.
		{"no start", job(time.Time{}, "36000", "CI_JOB_STARTED_AT", "", "KEYLESS_ID_TOKEN", fresh), doctor.OK, "expires in 1h0m0s"},
		{"outside CI", job(time.Time{}, "", "CI_JOB_STARTED_AT", "", "KEYLESS_ID_TOKEN", fresh), doctor.OK, "expires in 1h0m0s"},
		{"expired", job(now, "3600", "KEYLESS_ID_TOKEN", expired), doctor.Fail, "expired 2h0m0s ago"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verdict(t, run(t, doctor.Options{Getenv: tc.getenv}), "lifetime $KEYLESS_ID_TOKEN")
			if v.Status != tc.status || v.Detail != tc.detail {
				t.Errorf("got %s %q, want %s %q", v.Status, v.Detail, tc.status, tc.detail)
			}
			if (v.Status == doctor.OK) != (v.Fix == "") {
				t.Errorf("fix %q with status %s", v.Fix, v.Status)
			}
		})
	}
}

func TestAudienceMismatch(t *testing.T) {
	iss := issuer(t)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{"https://gitlab.example.com"}})
	rep := run(t, doctor.Options{
		Providers: []doctor.Provider{{Name: "vault", TokenVar: "VAULT_ID_TOKEN", Audience: "https://vault.example.com"}},
		Getenv:    job(now, "600", "VAULT_ID_TOKEN", tok),
	})
	v := verdict(t, rep, "audience vault")
	want := doctor.Verdict{Status: doctor.Fail, Check: "audience vault",
		Detail: "aud is https://gitlab.example.com, vault expects https://vault.example.com",
		Fix:    "set the job's id_tokens: VAULT_ID_TOKEN: aud: https://vault.example.com (the component's aud input)"}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep.Failed() != 1 {
		t.Errorf("Failed() = %d, want 1: %q", rep.Failed(), statuses(rep))
	}
}

func TestIssuer(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		other, err := oidctest.New()
		if err != nil {
			t.Fatal(err)
		}
		other.URL = "http://127.0.0.1:1" // nothing listens
		other.Now = func() time.Time { return now }
		rep := run(t, doctor.Options{Getenv: job(now, "600", "KEYLESS_ID_TOKEN", other.MustMint(t, oidctest.Job{}))})
		for _, check := range []string{"discovery http://127.0.0.1:1", "signature $KEYLESS_ID_TOKEN"} {
			if v := verdict(t, rep, check); v.Status != doctor.Fail {
				t.Errorf("%s: %s %q", check, v.Status, v.Detail)
			}
		}
		if v := verdict(t, rep, "discovery http://127.0.0.1:1"); !strings.HasPrefix(v.Detail, "GET http://127.0.0.1:1/.well-known/openid-configuration: ") {
			t.Errorf("detail %q does not name the URL", v.Detail)
		}
	})
	t.Run("the discovery document names another issuer", func(t *testing.T) {
		iss := issuer(t)
		tok := iss.MustMint(t, oidctest.Job{})
		minted := iss.URL
		iss.URL += "/elsewhere" // what the document says from now on
		rep := run(t, doctor.Options{Getenv: job(now, "600", "KEYLESS_ID_TOKEN", tok)})
		v := verdict(t, rep, "discovery "+minted)
		if v.Status != doctor.Fail || !strings.Contains(v.Detail, `says issuer "`+iss.URL+`", the token says "`+minted+`"`) {
			t.Errorf("got %s %q", v.Status, v.Detail)
		}
	})
	t.Run("trust is set up for another issuer", func(t *testing.T) {
		iss := issuer(t)
		rep := run(t, doctor.Options{Issuer: "https://gitlab.example.com/", Getenv: job(now, "600", "KEYLESS_ID_TOKEN", iss.MustMint(t, oidctest.Job{}), "CI_SERVER_URL", "https://gitlab.example.com")})
		if v := verdict(t, rep, "issuer $KEYLESS_ID_TOKEN"); v.Status != doctor.Fail {
			t.Errorf("got %s %q", v.Status, v.Detail)
		}
		var info int
		for _, v := range rep.Verdicts {
			if v.Check == "issuer $KEYLESS_ID_TOKEN" && v.Status == doctor.Info && strings.Contains(v.Detail, "CI_SERVER_URL https://gitlab.example.com") {
				info++
			}
		}
		if info != 1 {
			t.Errorf("no info line on CI_SERVER_URL: %q", statuses(rep))
		}
	})
	t.Run("signing key rotated away", func(t *testing.T) {
		iss := issuer(t)
		tok := iss.MustMint(t, oidctest.Job{})
		if err := iss.Rotate(false); err != nil {
			t.Fatal(err)
		}
		rep := run(t, doctor.Options{Getenv: job(now, "600", "KEYLESS_ID_TOKEN", tok)})
		if v := verdict(t, rep, "keys "+iss.URL); v.Status != doctor.OK || v.Detail != iss.URL+oidctest.KeysPath+" lists 1 keys" {
			t.Errorf("keys: %s %q", v.Status, v.Detail)
		}
		if v := verdict(t, rep, "signature $KEYLESS_ID_TOKEN"); v.Status != doctor.Fail {
			t.Errorf("signature: %s %q", v.Status, v.Detail)
		}
	})
}

// Two providers reading two variables with tokens of one issuer: its
// discovery document is fetched once, and the signatures are checked with it.
func TestDiscoveryOncePerIssuer(t *testing.T) {
	iss := issuer(t)
	rep := run(t, doctor.Options{
		Providers: []doctor.Provider{
			{Name: "aws", TokenVar: "AWS_ID_TOKEN", Audience: "sts.amazonaws.com"},
			{Name: "vault", TokenVar: "VAULT_ID_TOKEN", Audience: "https://vault.example.com"},
		},
		Getenv: job(now, "600",
			"AWS_ID_TOKEN", iss.MustMint(t, oidctest.Job{Audience: []string{"sts.amazonaws.com"}}),
			"VAULT_ID_TOKEN", iss.MustMint(t, oidctest.Job{Audience: []string{"https://vault.example.com"}})),
	})
	if rep.Failed() != 0 {
		t.Errorf("failed: %q", statuses(rep))
	}
	if n := iss.Hits(oidctest.DiscoveryPath); n != 1 {
		t.Errorf("discovery fetched %d times, want 1", n)
	}
	var discovery int
	for _, v := range rep.Verdicts {
		if strings.HasPrefix(v.Check, "discovery ") {
			discovery++
		}
	}
	if discovery != 1 {
		t.Errorf("%d discovery verdicts: %q", discovery, statuses(rep))
	}
}

func TestWhichTokens(t *testing.T) {
	iss := issuer(t)
	tok := iss.MustMint(t, oidctest.Job{})
	aws := doctor.Provider{Name: "aws", TokenVar: "AWS_ID_TOKEN"}
	gcp := doctor.Provider{Name: "gcp", TokenVar: "GCP_ID_TOKEN"}
	env := job(now, "600", "AWS_ID_TOKEN", tok, "GCP_ID_TOKEN", tok, "MY_TOKEN", tok, "KEYLESS_ID_TOKEN", tok)
	tokens := func(rep doctor.Report) []string {
		var out []string
		for _, v := range rep.Verdicts {
			if strings.HasPrefix(v.Check, "token ") {
				out = append(out, strings.TrimPrefix(v.Check, "token "))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		o    doctor.Options
		want []string
	}{
		{"every provider's, sorted", doctor.Options{Providers: []doctor.Provider{gcp, aws}}, []string{"$AWS_ID_TOKEN", "$GCP_ID_TOKEN"}},
		{"the one named", doctor.Options{TokenVar: "GCP_ID_TOKEN", Providers: []doctor.Provider{gcp, aws}}, []string{"$GCP_ID_TOKEN"}},
		{"no provider", doctor.Options{}, []string{"$KEYLESS_ID_TOKEN"}},
		{"no provider, another default", doctor.Options{DefaultTokenVar: "MY_TOKEN"}, []string{"$MY_TOKEN"}},
		{"a file", doctor.Options{TokenFile: "/job/token", ReadFile: func(string) ([]byte, error) { return []byte(tok), nil }}, []string{"the token in /job/token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Getenv = env
			if diff := cmp.Diff(tc.want, tokens(run(t, tc.o))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	rep := run(t, doctor.Options{Getenv: job(now, "600")})
	if v := verdict(t, rep, "token $KEYLESS_ID_TOKEN"); v.Status != doctor.Fail || v.Fix != "" || !strings.Contains(v.Detail, "id_tokens:") {
		t.Errorf("no token: %+v", v)
	}
	rep = run(t, doctor.Options{Getenv: job(now, "600"), Providers: []doctor.Provider{{Name: "aws", Err: errors.New("role_arn: not an ARN")}}})
	if diff := cmp.Diff([]string{"FAIL config aws", "FAIL token $KEYLESS_ID_TOKEN"}, statuses(rep)); diff != "" {
		t.Errorf("a provider whose configuration fails (-want +got):\n%s", diff)
	}
}

func TestTrust(t *testing.T) {
	iss := issuer(t)
	unprotected := iss.MustMint(t, oidctest.Job{Ref: "feature", RefProtected: false})
	docs := map[string][]byte{"/trust/role.json": []byte(`{"a trust document": true}`), "/trust/huge.json": make([]byte, 2<<20)}
	readFile := func(p string) ([]byte, error) {
		if b, ok := docs[p]; ok {
			return b, nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	// refuse stands in for a policy evaluator (internal/policy's Result)
	// whose document requires a protected ref.
	refuse := func(doc []byte, tok *idtoken.Token) (*policy.Result, error) {
		return &policy.Result{Verdict: "refused: ref_protected is false", Fix: "protect the ref",
			Checks: []policy.Check{{Test: `ref_protected StringEquals "true"`, Claim: "ref_protected", Held: false}}}, nil
	}
	admit := func(doc []byte, tok *idtoken.Token) (*policy.Result, error) {
		return &policy.Result{Admitted: true, Verdict: "admitted"}, nil
	}
	for _, tc := range []struct {
		name string
		p    doctor.Provider
		want []doctor.Verdict
	}{
		{"admits", doctor.Provider{TrustDoc: "/trust/role.json", Explain: admit},
			[]doctor.Verdict{{Status: doctor.OK, Check: "trust aws", Detail: "/trust/role.json admits the token: admitted"}}},
		{"refuses an unprotected ref", doctor.Provider{TrustDoc: "/trust/role.json", Explain: refuse},
			[]doctor.Verdict{
				{Status: doctor.Fail, Check: "protected ref aws", Detail: "/trust/role.json requires a protected ref; feature is not protected",
					Fix: "run the job on a protected branch or tag, or protect feature (Settings > Repository)"},
				{Status: doctor.Fail, Check: "trust aws", Detail: "/trust/role.json refuses the token: refused: ref_protected is false", Fix: "protect the ref"},
			}},
		{"missing", doctor.Provider{TrustDoc: "/trust/none.json", Explain: admit},
			[]doctor.Verdict{{Status: doctor.Fail, Check: "trust aws", Detail: "open /trust/none.json: file does not exist", Fix: "point the variable at the trust document, or unset it"}}},
		{"too large", doctor.Provider{TrustDoc: "/trust/huge.json", Explain: admit},
			[]doctor.Verdict{{Status: doctor.Fail, Check: "trust aws", Detail: "/trust/huge.json is larger than 1048576 bytes", Fix: "point the variable at the trust document, or unset it"}}},
		{"cannot evaluate", doctor.Provider{TrustDoc: "/trust/role.json", TrustNote: "this build cannot"},
			[]doctor.Verdict{{Status: doctor.Warn, Check: "trust aws", Detail: "cannot evaluate /trust/role.json: this build cannot"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Name, tc.p.TokenVar = "aws", "AWS_ID_TOKEN"
			rep := run(t, doctor.Options{Providers: []doctor.Provider{tc.p}, ReadFile: readFile, Getenv: job(now, "600", "AWS_ID_TOKEN", unprotected)})
			var got []doctor.Verdict
			for _, v := range rep.Verdicts {
				if strings.HasSuffix(v.Check, " aws") {
					got = append(got, v)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
