package aws_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Issue 13, item 7: a value with a line break (from a hostile STS
// endpoint) would add lines to the shared files, a credential_process
// even. Every value is checked before anything is written, and the
// message never shows it.
func TestWriteProfileRefusesControlCharacters(t *testing.T) {
	const evil = "x\n[default]\ncredential_process = sh -c planted"
	for _, tc := range []struct {
		key string
		set func(*aws.Credentials, string)
	}{
		{"aws_access_key_id", func(c *aws.Credentials, v string) { c.AccessKeyID = secret.New(v) }},
		{"aws_secret_access_key", func(c *aws.Credentials, v string) { c.SecretAccessKey = secret.New(v) }},
		{"aws_session_token", func(c *aws.Credentials, v string) { c.SessionToken = secret.New(v) }},
		{"region", func(c *aws.Credentials, v string) { c.Region = v }},
	} {
		for i, v := range []string{evil, "x\rplanted", "x\x00", "x\x1b[2J", "x\u2028planted", "x\xff"} {
			dir := filepath.Join(t.TempDir(), ".aws")
			files := aws.ProfileFiles{Config: filepath.Join(dir, "config"), Credentials: filepath.Join(dir, "credentials")}
			c := creds()
			tc.set(c, v)
			rec, err := c.WriteProfile(files, "ci")
			var pe *aws.ProfileValueError
			if !errors.As(err, &pe) || pe.Key != tc.key || rec != nil {
				t.Errorf("%s, value %d: err = %v", tc.key, i, err)
				continue
			}
			if strings.Contains(err.Error(), "planted") || strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("%s, value %d: the message shows the value, or not the key", tc.key, i)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s: wrote something: %v", tc.key, err)
			}
		}
	}
	for _, name := range []string{"ci\n[x]", "ci\r", "c\x00i", " ci", "[ci]", ""} {
		files := aws.ProfileFiles{Config: filepath.Join(t.TempDir(), "c"), Credentials: filepath.Join(t.TempDir(), "k")}
		if _, err := creds().WriteProfile(files, name); err == nil || !strings.Contains(err.Error(), "is not valid") {
			t.Errorf("profile name %q: %v", name, err)
		}
	}
}

// RemoveProfile undoes exactly what WriteProfile did: the sections it
// wrote, the files and the directory it created; other profiles stay.
func TestRemoveProfileUndoesOnlyWhatWasWritten(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, ".aws")
	files := aws.ProfileFiles{Config: filepath.Join(dir, "config"), Credentials: filepath.Join(dir, "credentials")}
	rec, err := creds().WriteProfile(files, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{dir}, rec.Dirs); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
	if err := aws.RemoveProfile(*rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("left %s, which keyless created: %v", dir, err)
	}

	// Files of the user's: only the section goes.
	os.Mkdir(dir, 0o755)
	mine := "[other]\naws_access_key_id = KEEP\n"
	os.WriteFile(files.Credentials, []byte(mine), 0o600)
	rec, err = creds().WriteProfile(files, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if err := aws.RemoveProfile(*rec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(files.Credentials); string(b) != mine {
		t.Errorf("credentials = %q, want %q", b, mine)
	}
	if _, err := os.Stat(files.Config); !os.IsNotExist(err) {
		t.Errorf("left the config file keyless created: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("removed %s, which was there before: %v", dir, err)
	}

	// A section changed since is not keyless's any more.
	rec, err = creds().WriteProfile(files, "default")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(files.Credentials)
	os.WriteFile(files.Credentials, []byte(strings.Replace(string(b), "aws_session_token = sess", "aws_session_token = rotated", 1)), 0o600)
	var ce *aws.ProfileChangedError
	if err := aws.RemoveProfile(*rec); !errors.As(err, &ce) || ce.Section != "default" {
		t.Errorf("a changed section: %v", err)
	}
	if b, _ := os.ReadFile(files.Credentials); !strings.Contains(string(b), "rotated") {
		t.Error("removed a section that changed")
	}
	if _, err := os.Stat(files.Config); !os.IsNotExist(err) {
		t.Errorf("the config file keyless created, with its unchanged [default]: %v", err)
	}
}
