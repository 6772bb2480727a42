package aws

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// ProfileFiles are the shared config and credentials files a profile is
// written to.
type ProfileFiles struct {
	Config      string
	Credentials string
}

// DefaultProfileFiles honours AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE,
// else uses ~/.aws.
func DefaultProfileFiles(getenv func(string) string) (ProfileFiles, error) {
	f := ProfileFiles{Config: getenv("AWS_CONFIG_FILE"), Credentials: getenv("AWS_SHARED_CREDENTIALS_FILE")}
	if f.Config == "" || f.Credentials == "" {
		home := getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return f, fmt.Errorf("no home directory for ~/.aws: set AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE")
			}
			home = h
		}
		if f.Config == "" {
			f.Config = filepath.Join(home, ".aws", "config")
		}
		if f.Credentials == "" {
			f.Credentials = filepath.Join(home, ".aws", "credentials")
		}
	}
	return f, nil
}

// ProfileValueError refuses a value that would change the shape of an INI
// file: a line break in a credential (from a hostile STS endpoint) or in
// the region would add lines, whole profiles even, to the shared files
// (issue 13). The value is never shown.
type ProfileValueError struct {
	Profile string
	Key     string // e.g. aws_session_token
}

func (e *ProfileValueError) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *ProfileValueError) Text() string {
	return fmt.Sprintf("refusing to write profile %q: its %s contains a line break or another control character, "+
		"which would add lines to the shared AWS files; nothing was written (STS never returns such a value: check %s and %s)",
		e.Profile, e.Key, option.Ref(OptSTSEndpoint), option.Ref(OptRegion))
}

// iniSafe reports whether s can be an INI name or value as it is: valid
// UTF-8 without control characters or Unicode line separators.
func iniSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// ProfileRecord is what WriteProfile changed, kept in the job's state
// directory so that keyless cleanup undoes exactly that: the sections it
// wrote, while they hold what it wrote; a file it created, once nothing
// else is in it; the directories it created, once empty. Profiles live in
// a home directory that a shell runner's jobs share.
type ProfileRecord struct {
	Name     string           `json:"name"`
	Sections []ProfileSection `json:"sections"`
	Dirs     []string         `json:"dirs,omitempty"`
}

// ProfileSection is one section WriteProfile wrote.
type ProfileSection struct {
	File    string `json:"file"`
	Section string `json:"section"`
	// SHA256 is the hash of the section as written: a section changed
	// since is someone else's and stays.
	SHA256  string `json:"sha256"`
	Created bool   `json:"created,omitempty"` // the file did not exist
}

// WriteProfile writes the credentials as profile name into the shared
// credentials file and the region into the config file, keeping every other
// profile, each file 0600, written atomically and never through a symlink
// (exchange.WriteSecretFile). It refuses a name or value that would add
// lines to the files, before writing anything, and returns what it wrote
// for RemoveProfile.
func (c *Credentials) WriteProfile(files ProfileFiles, name string) (*ProfileRecord, error) {
	if name == "" || strings.ContainsAny(name, "[]") || !iniSafe(name) || strings.TrimSpace(name) != name {
		return nil, fmt.Errorf("profile name %q is not valid: use letters, digits, '-', '_' or '.'", name)
	}
	creds := []kv{
		{"aws_access_key_id", c.AccessKeyID.Reveal()},
		{"aws_secret_access_key", c.SecretAccessKey.Reveal()},
		{"aws_session_token", c.SessionToken.Reveal()},
	}
	var cfg []kv
	if c.Region != "" {
		cfg = append(cfg, kv{"region", c.Region})
	}
	for _, p := range append(creds, cfg...) {
		if !iniSafe(p.v) {
			return nil, &ProfileValueError{Profile: name, Key: p.k}
		}
	}
	section := "profile " + name
	if name == "default" {
		section = "default"
	}
	rec := &ProfileRecord{Name: name}
	if err := upsertSection(rec, files.Credentials, name, creds); err != nil {
		return nil, err
	}
	if err := upsertSection(rec, files.Config, section, cfg); err != nil {
		RemoveProfile(*rec)
		return nil, err
	}
	return rec, nil
}

type kv struct{ k, v string }

// splitSection cuts every [section] out of an INI file's text: what
// remains, and the section's lines.
func splitSection(text, section string) (rest, block string) {
	var r, b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			in = strings.TrimSpace(t[1:len(t)-1]) == section
		}
		if in {
			b.WriteString(line)
		} else {
			r.WriteString(line)
		}
	}
	return r.String(), b.String()
}

func sectionSum(block string) string {
	h := sha256.Sum256([]byte(strings.TrimRight(block, "\n")))
	return hex.EncodeToString(h[:])
}

// upsertSection replaces (or appends) [section] in an INI file and records
// it in rec.
func upsertSection(rec *ProfileRecord, path, section string, values []kv) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	old, existed, err := exchange.ReadOwnFile(path)
	if err != nil {
		return err
	}
	rest, _ := splitSection(string(old), section)
	out := strings.TrimRight(rest, "\n")
	if out != "" {
		out += "\n\n"
	}
	block := "[" + section + "]\n"
	for _, p := range values {
		block += p.k + " = " + p.v + "\n"
	}
	created, err := exchange.WriteSecretFile(path, []byte(out+block))
	if err != nil {
		return err
	}
	rec.Dirs = append(rec.Dirs, created...)
	rec.Sections = append(rec.Sections, ProfileSection{File: path, Section: section, SHA256: sectionSum(block), Created: !existed})
	return nil
}

// ProfileChangedError leaves a section that changed after keyless wrote it.
type ProfileChangedError struct{ File, Section string }

func (e *ProfileChangedError) Error() string {
	return fmt.Sprintf("left [%s] in %q: it changed since keyless wrote it; remove it yourself if it holds nothing you need", e.Section, e.File)
}

// RemoveProfile undoes WriteProfile as rec records it: each section while
// it holds what keyless wrote, each file keyless created once nothing else
// is in it, then the directories keyless created, once empty.
func RemoveProfile(rec ProfileRecord) error {
	var errs []error
	for _, s := range rec.Sections {
		errs = append(errs, removeSection(s))
	}
	_, err := exchange.RemoveFiles(nil, rec.Dirs)
	return errors.Join(append(errs, err)...)
}

func removeSection(s ProfileSection) error {
	old, exists, err := exchange.ReadOwnFile(s.File)
	if err != nil || !exists {
		return err
	}
	rest, block := splitSection(string(old), s.Section)
	if block == "" {
		return nil
	}
	if sectionSum(block) != s.SHA256 {
		return &ProfileChangedError{File: s.File, Section: s.Section}
	}
	rest = strings.TrimRight(rest, "\n")
	if rest == "" && s.Created {
		_, err := exchange.RemoveFiles([]string{s.File}, nil)
		return err
	}
	if rest != "" {
		rest += "\n"
	}
	_, err = exchange.WriteSecretFile(s.File, []byte(rest))
	return err
}

// ProfilePattern matches the profile records in a state directory.
const ProfilePattern = "aws-profile-*.json"

// SaveProfile keeps rec in a new file of the state directory dir for
// keyless cleanup, and returns its path.
func SaveProfile(dir string, rec ProfileRecord) (string, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return exchange.NewStateFile(dir, ProfilePattern, b)
}

// SavedProfile is a profile record found in a state directory.
type SavedProfile struct {
	Path   string
	Record ProfileRecord
}

// LoadProfiles reads the profile records in the state directory dir,
// oldest first; only files that are this user's and private count
// (exchange.ReadStateFiles). A missing dir has none.
func LoadProfiles(dir string) ([]SavedProfile, error) {
	files, err := exchange.ReadStateFiles(dir, ProfilePattern)
	errs := []error{err}
	var out []SavedProfile
	for _, f := range files {
		var r ProfileRecord
		if err := json.Unmarshal(f.Data, &r); err != nil || r.Name == "" {
			errs = append(errs, fmt.Errorf("state file %q is not keyless's; remove it", f.Path))
			continue
		}
		out = append(out, SavedProfile{Path: f.Path, Record: r})
	}
	return out, errors.Join(errs...)
}
