package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
	"gitlab.com/keyless-ci/keyless/internal/neighbourtest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// Tests of issue 13: a shell runner shares its host between users and
// jobs, and a local neighbour can predict CI_JOB_ID.

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (os.ModePerm | os.ModeSticky)
}

func present(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// revokes counts the revoke requests the fake Vault received.
func (f vaultFixture) revokes() int {
	n := 0
	for _, r := range f.v.Requests() {
		if strings.HasPrefix(r.Path, "auth/token/revoke") {
			n++
		}
	}
	return n
}

// Item 2: a neighbour makes /tmp/keyless-job-$CI_JOB_ID first, with a
// state file that lists the user's authorized_keys and sends the "token"
// to an address of theirs. keyless cleanup refuses the directory: it
// deletes nothing, revokes nothing, says why and what to do.
func TestCleanupRefusesAStateDirANeighbourMade(t *testing.T) {
	// Not parallel: the neighbour is one user per test process, removed
	// when a test that made it ends.
	nb := neighbourtest.New(t)
	shared := neighbourtest.SharedDir(t)
	f := newVaultFixture(t)
	victim := filepath.Join(t.TempDir(), "authorized_keys")
	os.WriteFile(victim, []byte("ssh-ed25519 AAAATESTONLY keyless@test\n"), 0o600)
	planted := filepath.Join(shared, "keyless-job-4242")
	nb.Mkdir(t, planted, 0o700)
	state, _ := json.Marshal(map[string]any{"addr": f.v.URL, "token": "hvs.planted-by-the-neighbour", "files": []string{victim}, "dirs": []string{filepath.Dir(victim)}})
	nb.WriteFile(t, filepath.Join(planted, "vault-token-000000000000.json"), state, 0o600)
	nb.WriteFile(t, filepath.Join(planted, ".keyless-state"), []byte("created\nfile vault-token-000000000000.json\n"), 0o600)
	env := map[string]string{"TMPDIR": shared, "CI_JOB_ID": "4242"}

	for _, cmd := range [][]string{{"cleanup"}, {"vault", "revoke"}} {
		o := keyless(t, env, cmd...)
		if o.Code != ExitFailure {
			t.Errorf("%s: exit %d, want %d\n%s", cmd, o.Code, ExitFailure, o.Stderr)
		}
		for _, s := range []string{strconv.Quote(planted), "belongs to uid " + strconv.Itoa(nb.UID), "KEYLESS_STATE_DIR", "TMPDIR"} {
			if !strings.Contains(o.Stderr, s) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, s, o.Stderr)
			}
		}
		if !present(victim) {
			t.Fatalf("%s deleted a file the neighbour's state file listed", cmd)
		}
		if n := f.revokes(); n != 0 {
			t.Fatalf("%s sent %d revoke requests to the address the neighbour chose", cmd, n)
		}
		if !present(filepath.Join(planted, "vault-token-000000000000.json")) {
			t.Errorf("%s removed the neighbour's files", cmd)
		}
	}
}

// Item 2: keyless env (which keeps the Vault token) refuses a state
// directory the neighbour made, revokes the token it got, and writes
// nothing there.
func TestStateDirANeighbourMadeIsNotUsed(t *testing.T) {
	// Not parallel: the neighbour is one user per test process, removed
	// when a test that made it ends.
	nb := neighbourtest.New(t)
	shared := neighbourtest.SharedDir(t)
	f := newVaultFixture(t)
	planted := filepath.Join(shared, "keyless-job-4242")
	nb.Mkdir(t, planted, 0o777)
	env := f.env(f.mint(t, oidctest.Job{}), "KEYLESS_STATE_DIR", "", "TMPDIR", shared, "CI_JOB_ID", "4242")
	o := keyless(t, env, "vault", "--role", "deploy", "--secret", "P=secret/ci/db#password")
	if o.Code != ExitFailure || o.Stdout != "" || !strings.Contains(o.Stderr, strconv.Quote(planted)) || !strings.Contains(o.Stderr, "KEYLESS_STATE_DIR") {
		t.Fatalf("exit %d\nstdout %s\n%s", o.Code, o.Stdout, o.Stderr)
	}
	if entries, _ := os.ReadDir(planted); len(entries) != 0 {
		t.Errorf("wrote into the neighbour's directory: %v", entries)
	}
	if m := fileMode(t, planted); m != 0o777 {
		t.Errorf("changed the neighbour's directory to %v", m)
	}
	if toks := f.v.Tokens(); len(toks) != 1 || !toks[0].Revoked {
		t.Errorf("the token it could not keep was not revoked: %+v", toks)
	}
	// --refreshable's token file does not go there either.
	fa := newFixture(t)
	o = keyless(t, map[string]string{"KEYLESS_ID_TOKEN": fa.iss.MustMint(t, oidctest.Job{}), "KEYLESS_AWS_STS_ENDPOINT": fa.sts.URL, "TMPDIR": shared, "CI_JOB_ID": "4242"},
		"aws", "--role-arn", role, "--refreshable")
	if o.Code != ExitFailure || o.Stdout != "" || !strings.Contains(o.Stderr, strconv.Quote(planted)) {
		t.Errorf("aws --refreshable: exit %d\n%s", o.Code, o.Stderr)
	}
}

// Item 3, with a second user: a --secret-file never lands in a directory
// others can write to (a sticky /tmp included) or that the neighbour owns
// or made first; a new directory of keyless's own in /tmp is fine, and
// cleanup removes it and leaves /tmp as it was.
func TestSecretFilesStayOutOfDirectoriesOthersControl(t *testing.T) {
	// Not parallel: the neighbour is one user per test process, removed
	// when a test that made it ends.
	nb := neighbourtest.New(t)
	shared := neighbourtest.SharedDir(t)
	f := newVaultFixture(t)
	env := f.env(f.mint(t, oidctest.Job{}))
	write := func(file string) outcome {
		return keyless(t, env, "vault", "--role", "deploy", "--secret-file", "secret/ci/db#username="+file)
	}
	theirs := filepath.Join(shared, "theirs")
	nb.Mkdir(t, theirs, 0o755)
	taken := filepath.Join(shared, "keyless-secrets-taken")
	nb.Mkdir(t, taken, 0o777)
	for _, tc := range []struct{ file, dir, says string }{
		{filepath.Join(shared, "tls.key"), shared, "can be written by other users (mode 1777)"},
		{filepath.Join(theirs, "tls.key"), theirs, "belongs to another user (uid " + strconv.Itoa(nb.UID) + ")"},
		{filepath.Join(taken, "tls.key"), taken, "belongs to another user"},
	} {
		before := fileMode(t, tc.dir)
		o := write(tc.file)
		if o.Code != ExitFailure || !strings.Contains(o.Stderr, tc.says) || !strings.Contains(o.Stderr, strconv.Quote(tc.dir)) {
			t.Errorf("%s: exit %d\n%s", tc.file, o.Code, o.Stderr)
		}
		if present(tc.file) {
			t.Errorf("wrote %s", tc.file)
		}
		if m := fileMode(t, tc.dir); m != before {
			t.Errorf("%s went from mode %v to %v", tc.dir, before, m)
		}
	}
	if n := f.revokes(); n != 3 {
		t.Errorf("%d tokens revoked after refusing their files, want 3", n)
	}

	file := filepath.Join(shared, "keyless-secrets-"+strconv.Itoa(os.Getpid()), "tls.key")
	if o := write(file); o.Code != 0 || fileMode(t, filepath.Dir(file)) != 0o700 {
		t.Fatalf("a new directory in /tmp: exit %d\n%s", o.Code, o.Stderr)
	}
	if o := keyless(t, env, "cleanup"); o.Code != 0 {
		t.Fatalf("cleanup: exit %d\n%s", o.Code, o.Stderr)
	}
	if present(filepath.Dir(file)) || fileMode(t, shared) != 0o777|os.ModeSticky {
		t.Errorf("cleanup left %s (%v), or changed /tmp's mode to %v", filepath.Dir(file), present(filepath.Dir(file)), fileMode(t, shared))
	}
}

// Item 3: cleanup removed a secret file's directory once empty, $TMPDIR
// itself; it now removes only directories keyless created.
func TestCleanupKeepsDirectoriesKeylessDidNotCreate(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	tmp := t.TempDir()
	env := f.env(f.mint(t, oidctest.Job{}), "TMPDIR", tmp)
	file := filepath.Join(tmp, "db.user")
	o := keyless(t, env, "vault", "--role", "deploy", "--secret-file", "secret/ci/db#username="+file, "--", "test", "-s", file)
	if o.Code != 0 || present(file) {
		t.Fatalf("exec: exit %d, file left %v\n%s", o.Code, present(file), o.Stderr)
	}
	if !present(tmp) {
		t.Fatal("exec mode removed $TMPDIR, which held the secret file")
	}
	o = keyless(t, env, "vault", "--role", "deploy", "--secret-file", "secret/ci/db#username="+file)
	if o.Code != 0 {
		t.Fatalf("env: exit %d\n%s", o.Code, o.Stderr)
	}
	if o := keyless(t, env, "cleanup"); o.Code != 0 || present(file) || !present(tmp) {
		t.Fatalf("cleanup: exit %d, file left %v, $TMPDIR removed %v\n%s", o.Code, present(file), !present(tmp), o.Stderr)
	}
	if states, _ := filepath.Glob(filepath.Join(f.state, vault.StatePattern)); len(states) != 0 || present(f.state) {
		t.Errorf("cleanup left the state directory it made: %v", states)
	}
}

// Item 7: exec mode hands the command the credentials and not the job's
// ID token (the component's variable, KEYLESS_ID_TOKEN, a --token-var),
// unless --keep-id-token or KEYLESS_KEEP_ID_TOKEN asks for it.
func TestExecCommandGetsNoIDToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.iss.MustMint(t, oidctest.Job{})
	env := map[string]string{"KEYLESS_AWS_ID_TOKEN": tok, "KEYLESS_AWS_TOKEN_VAR": "KEYLESS_AWS_ID_TOKEN", "KEYLESS_ID_TOKEN": tok,
		"KEYLESS_GCP_ID_TOKEN": "another-jobs-token", "MY_TOKEN": tok, "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL, "KEYLESS_AWS_ROLE_ARN": role}
	// Names only: the test prints no token.
	names := `test -n "$AWS_SESSION_TOKEN" && env | cut -d= -f1 | grep -E '^(KEYLESS_([A-Z]+_)?ID_TOKEN|MY_TOKEN)$' | grep -v KEEP | sort | tr '\n' ' '`
	all := "KEYLESS_AWS_ID_TOKEN KEYLESS_GCP_ID_TOKEN KEYLESS_ID_TOKEN MY_TOKEN "
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"aws", env, []string{"aws", "-q", "--"}, "MY_TOKEN "},
		{"aws --token-var", env, []string{"aws", "-q", "--token-var", "MY_TOKEN", "--"}, ""},
		{"aws --keep-id-token", env, []string{"aws", "-q", "--token-var", "MY_TOKEN", "--keep-id-token", "--"}, all},
		{"KEYLESS_AWS_KEEP_ID_TOKEN", with("KEYLESS_AWS_KEEP_ID_TOKEN", "true"), []string{"aws", "-q", "--"}, all},
		{"exec", env, []string{"exec", "-q", "--"}, "MY_TOKEN "},
		{"exec KEYLESS_TOKEN_VAR", with("KEYLESS_AWS_TOKEN_VAR", "", "KEYLESS_TOKEN_VAR", "MY_TOKEN"), []string{"exec", "-q", "--"}, ""},
		{"exec --keep-id-token", env, []string{"exec", "-q", "--keep-id-token", "--"}, all},
		{"KEYLESS_KEEP_ID_TOKEN", with("KEYLESS_KEEP_ID_TOKEN", "true"), []string{"exec", "-q", "--"}, all},
	} {
		o := keyless(t, tc.env, append(tc.args, "sh", "-c", names)...)
		if o.Code != 0 || o.Stdout != tc.want {
			t.Errorf("%s: exit %d, the command had %q, want %q\n%s", tc.name, o.Code, o.Stdout, tc.want, o.Stderr)
		}
	}
}

// Item 7: a credential with a line break (from a hostile STS endpoint)
// would add lines, a credential_process even, to the shared profile files;
// it is refused, without showing it, and nothing is written.
func TestProfileRefusesLineBreaks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sts.SessionToken = "FwoGZXIvYXdzEFAKE\n[default]\ncredential_process = sh -c planted"
	home := t.TempDir()
	env := map[string]string{"KEYLESS_ID_TOKEN": f.iss.MustMint(t, oidctest.Job{}), "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL, "HOME": home}
	o := keyless(t, env, "aws", "--role-arn", role, "--profile", "ci")
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "aws_session_token contains a line break or another control character") {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if strings.Contains(o.Stderr, "planted") || strings.Contains(o.Stderr, "FwoGZXIvYXdzEFAKE") {
		t.Errorf("the message shows the value:\n%s", o.Stderr)
	}
	if present(filepath.Join(home, ".aws")) {
		t.Error("wrote the profile")
	}
}

// Item 7: profiles outlive the job in a home directory that a shell
// runner's jobs share; keyless cleanup removes the section keyless wrote,
// and the files and directory it created, and nothing else.
func TestCleanupRemovesTheProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	home, tmp := t.TempDir(), t.TempDir()
	env := map[string]string{"KEYLESS_ID_TOKEN": f.iss.MustMint(t, oidctest.Job{}), "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL,
		"HOME": home, "TMPDIR": tmp, "CI_JOB_ID": "77"}
	aws := filepath.Join(home, ".aws")
	o := keyless(t, env, "aws", "--role-arn", role, "--profile", "ci")
	if o.Code != 0 || !strings.Contains(o.Stderr, "keyless cleanup removes it") {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, env, "cleanup")
	if o.Code != 0 || !strings.Contains(o.Stderr, `keyless: aws: removed profile "ci"`) {
		t.Fatalf("cleanup: exit %d\n%s", o.Code, o.Stderr)
	}
	if present(aws) || present(filepath.Join(tmp, "keyless-job-77")) {
		t.Errorf("cleanup left %s (%v) or the state directory", aws, present(aws))
	}

	// The user's own profiles stay, and so does their directory.
	os.Mkdir(aws, 0o755)
	mine := "[mine]\naws_access_key_id = KEEP\n"
	os.WriteFile(filepath.Join(aws, "credentials"), []byte(mine), 0o600)
	if o := keyless(t, env, "aws", "--role-arn", role, "--profile", "ci"); o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(aws, "credentials")); !strings.Contains(string(b), "[ci]") {
		t.Fatalf("no profile written:\n%s", b)
	}
	if o := keyless(t, env, "cleanup"); o.Code != 0 {
		t.Fatalf("cleanup: exit %d\n%s", o.Code, o.Stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(aws, "credentials")); string(b) != mine {
		t.Errorf("credentials after cleanup = %q, want %q", b, mine)
	}
	if present(filepath.Join(aws, "config")) || !present(aws) {
		t.Errorf("config (which keyless created) left %v; %s removed %v", present(filepath.Join(aws, "config")), aws, !present(aws))
	}
}
