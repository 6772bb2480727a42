package exchange

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StateDir returns the directory for this job's secret files: under
// $KEYLESS_STATE_DIR if set, else under the system temporary directory, in
// a folder named for the job so that `keyless cleanup` can find it. It is
// never inside the project directory, which GitLab may upload as artifacts
// or cache.
func StateDir(getenv func(string) string) (string, error) {
	base := getenv("KEYLESS_STATE_DIR")
	if base == "" {
		base = filepath.Join(tempDir(getenv), "keyless-"+jobKey(getenv))
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	if err := CheckOutsideProject(abs, getenv("CI_PROJECT_DIR")); err != nil {
		return "", err
	}
	return abs, nil
}

func tempDir(getenv func(string) string) string {
	if d := getenv("TMPDIR"); d != "" {
		return d
	}
	return os.TempDir()
}

func jobKey(getenv func(string) string) string {
	if id := getenv("CI_JOB_ID"); id != "" {
		return "job-" + id
	}
	return "uid-" + strconv.Itoa(os.Getuid())
}

// ProjectDirError refuses a secret file inside the project directory.
type ProjectDirError struct{ Path, ProjectDir string }

func (e *ProjectDirError) Error() string {
	return fmt.Sprintf("refusing to write credentials to %q: it is inside the project directory %q, "+
		"which GitLab can upload as an artifact or cache; choose a path outside it (or set KEYLESS_STATE_DIR)",
		e.Path, e.ProjectDir)
}

// CheckOutsideProject returns a *ProjectDirError when path is inside
// projectDir (both made absolute and cleaned; symlinked parents resolved).
func CheckOutsideProject(path, projectDir string) error {
	if projectDir == "" {
		return nil
	}
	p, pd := resolve(path), resolve(projectDir)
	if p == pd || strings.HasPrefix(p, pd+string(filepath.Separator)) {
		return &ProjectDirError{Path: path, ProjectDir: projectDir}
	}
	return nil
}

// resolve makes path absolute and resolves symlinks in its longest existing
// prefix.
func resolve(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	rest := ""
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// SymlinkError refuses to write through a symbolic link.
type SymlinkError struct{ Path string }

func (e *SymlinkError) Error() string {
	return fmt.Sprintf("refusing to write credentials through the symbolic link %q; remove it or choose another path", e.Path)
}

// EnsureDir creates dir (and parents) with mode 0700 and refuses a dir that
// is a symlink or is writable by others.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %q: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("stat %q: %w", dir, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return &SymlinkError{Path: dir}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %q to its owner: %w", dir, err)
		}
	}
	return nil
}

// WriteSecretFile writes data to path atomically with mode 0600: a
// temporary file in the same directory, synced, then renamed over path. It
// refuses when path is a symlink. The directory is created 0700.
func WriteSecretFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := EnsureDir(dir); err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return &SymlinkError{Path: path}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stat %q: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	ok = true
	return nil
}

// Cleanup removes the files c lists, and their directory when it is empty.
func (c *Credentials) Cleanup() error {
	var errs []error
	dirs := map[string]bool{}
	for _, f := range c.Files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		dirs[filepath.Dir(f)] = true
	}
	for d := range dirs {
		os.Remove(d) // only succeeds when empty, which is what we want
	}
	return errors.Join(errs...)
}
