package exchange

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Files on shared hosts (issue 13): a shell runner serves several users and
// jobs, and a local neighbour can predict CI_JOB_ID, so every path keyless
// writes or deletes is one another user could have planted first. The rules
// live here, once:
//
//   - the state directory is this user's, mode 0700, made by keyless or
//     refused; state files in it are this user's, mode 0600, read without
//     following a symbolic link, and only they say what cleanup deletes and
//     where a Vault token is sent;
//   - a secret file goes into a directory no other user can write to (a
//     sticky /tmp is not one: anyone can take a name there first), or into
//     one keyless creates with mode 0700; an existing file is replaced only
//     when it is this user's regular file;
//   - keyless changes the mode of nothing it did not create, and removes only
//     what it recorded creating: files by their recorded paths, if still this
//     user's regular files, and directories it created, once empty.

// StateDir returns the directory for this job's secret files: under
// $KEYLESS_STATE_DIR if set, else under the system temporary directory, in
// a folder named for the job so that `keyless cleanup` can find it. It is
// never inside the project directory, which GitLab may upload as artifacts
// or cache. StateDir only names it: MakeStateDir creates it, CheckStateDir
// checks the one found.
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

// UnsafePathError refuses to write a secret file where another local user
// could plant it first or replace it: in a directory (Dir) they can write to
// or own, or over an existing file that is not this user's.
type UnsafePathError struct {
	Path    string // the file to write
	Dir     string // the directory at fault; "" when it is the file itself
	Problem string // e.g. "can be written by other users (mode 1777)"
}

func (e *UnsafePathError) Error() string {
	if e.Dir == "" {
		return fmt.Sprintf("refusing to write credentials to %q: it %s; remove it or choose another path", e.Path, e.Problem)
	}
	return fmt.Sprintf("refusing to write credentials to %q: the directory %q %s, so another local user could plant or replace the file; "+
		"choose a directory only you can write, or a new one (keyless creates missing directories with mode 0700 and removes them in cleanup)",
		e.Path, e.Dir, e.Problem)
}

// StateError refuses a state directory, or a file in it, that is not this
// user's and private: another local user who made it could name the files
// cleanup deletes and the address a Vault token is sent to (issue 13).
type StateError struct {
	Path    string
	Problem string // e.g. "belongs to uid 1001, not to you (uid 1000)"
	File    bool   // Path is a file in the state directory
}

func (e *StateError) Error() string {
	if e.File {
		return fmt.Sprintf("state file %q %s: keyless did not write it, so it acts on nothing it says (no token is revoked, "+
			"no file removed); remove it", e.Path, e.Problem)
	}
	return fmt.Sprintf("state directory %q %s: another local user could have made it to plant state or read yours, so keyless "+
		"leaves it alone; set KEYLESS_STATE_DIR in the job's variables (after_script needs it too) to a new path in a directory "+
		"only you can write, such as $HOME/.keyless/$CI_JOB_ID, or TMPDIR to a directory of your own", e.Path, e.Problem)
}

func modeString(fi os.FileInfo) string {
	m := fi.Mode().Perm()
	if fi.Mode()&os.ModeSticky != 0 {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", uint32(m))
}

// privateProblem says why fi, found in a state directory (or the
// directory itself), is not this user's private file or directory, or "".
func privateProblem(fi os.FileInfo, dir bool) string {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return "is a symbolic link"
	case dir && !fi.IsDir():
		return "is not a directory"
	case !dir && !fi.Mode().IsRegular():
		return "is not a regular file"
	}
	uid, ok := ownerOf(fi)
	if !ok {
		return "" // no owners or POSIX modes (Windows)
	}
	if me := os.Geteuid(); uid != me {
		return fmt.Sprintf("belongs to uid %d, not to you (uid %d)", uid, me)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		want := "0600"
		if dir {
			want = "0700 (chmod 700 it if you made it)"
		}
		return fmt.Sprintf("has mode %s, not %s", modeString(fi), want)
	}
	return ""
}

// dirProblem says why no secret should be created in the directory fi, or
// "": it must be a directory of this user or root that no other user can
// write to. With sticky, a shared directory whose sticky bit is set (/tmp)
// will do: keyless only makes its own directory there, with mkdir, which
// fails if the name is taken, and nobody else can rename or remove it.
func dirProblem(fi os.FileInfo, sticky bool) string {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return "is a symbolic link"
	case !fi.IsDir():
		return "is not a directory"
	}
	uid, ok := ownerOf(fi)
	if !ok {
		return ""
	}
	if me := os.Geteuid(); uid != me && uid != 0 {
		return fmt.Sprintf("belongs to another user (uid %d)", uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && !(sticky && fi.Mode()&os.ModeSticky != 0) {
		return fmt.Sprintf("can be written by other users (mode %s)", modeString(fi))
	}
	return ""
}

// makeDirs creates dir and its missing parents with mode 0700 and returns
// the ones it created, parents first. An existing dir must pass final; the
// existing parent keyless creates a directory in must pass dirProblem with
// sticky. refuse turns a problem with a directory into the caller's error.
func makeDirs(dir string, final func(os.FileInfo) string, refuse func(at, problem string) error) ([]string, error) {
	var missing []string
	for cur := dir; ; {
		fi, err := os.Lstat(cur)
		if err == nil {
			if len(missing) == 0 {
				if p := final(fi); p != "" {
					return nil, refuse(cur, p)
				}
				break
			}
			// A symlinked parent (macOS's /tmp) is judged by its target.
			if fi, err = os.Stat(cur); err != nil {
				return nil, fmt.Errorf("stat %q: %w", cur, err)
			}
			if p := dirProblem(fi, true); p != "" {
				return nil, refuse(cur, p)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("stat %q: %w", cur, err)
		}
		missing = append(missing, cur)
		parent := filepath.Dir(cur)
		if parent == cur {
			return nil, fmt.Errorf("create %q: no existing parent directory", dir)
		}
		cur = parent
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		// Mkdir fails when the name exists: a directory someone made in
		// the meantime is never taken for keyless's own.
		if err := os.Mkdir(missing[i], 0o700); err != nil {
			removeDirs(created)
			return nil, fmt.Errorf("create %q: %w", missing[i], err)
		}
		created = append(created, missing[i])
	}
	return created, nil
}

// removeDirs removes dirs, which keyless created (parents first), in
// reverse order, each only if it is empty.
func removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}

func randomHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WriteSecretFile writes data to path with mode 0600, atomically: a new
// file beside it, created with O_EXCL|O_NOFOLLOW, synced, then renamed over
// path (a rename replaces a name, it never follows one). The directory must
// be one no other user can write to; missing directories are created 0700
// and returned, parents first, for Credentials.Dirs, so that cleanup
// removes those and no other. An existing path must be this user's regular
// file; nothing's mode is changed but the new file's.
func WriteSecretFile(path string, data []byte) (created []string, err error) {
	dir := filepath.Dir(path)
	created, err = makeDirs(dir, func(fi os.FileInfo) string { return dirProblem(fi, false) }, func(at, problem string) error {
		if at == dir && problem == "is a symbolic link" {
			return &SymlinkError{Path: dir}
		}
		return &UnsafePathError{Path: path, Dir: at, Problem: problem}
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			removeDirs(created)
			created = nil
		}
	}()
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil, &SymlinkError{Path: path}
		}
		if !fi.Mode().IsRegular() {
			return nil, &UnsafePathError{Path: path, Problem: "exists and is not a regular file"}
		}
		if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
			return nil, &UnsafePathError{Path: path, Problem: fmt.Sprintf("exists and belongs to uid %d, not to you (uid %d)", uid, os.Geteuid())}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("stat %q: %w", path, err)
	}
	var f *os.File
	var tmp string
	for range 10 {
		tmp = filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+randomHex())
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("write %q: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("write %q: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return nil, fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write %q: %w", path, err)
	}
	ok = true
	return created, nil
}

// ReadOwnFile reads path, which must be this user's regular file, never
// through a symbolic link; a missing file reads as nothing, with exists
// false.
func ReadOwnFile(path string) (data []byte, exists bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read %q: %w", path, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return nil, true, &SymlinkError{Path: path}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil, true, fmt.Errorf("read %q: %w", path, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, true, fmt.Errorf("read %q: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, true, &UnsafePathError{Path: path, Problem: "is not a regular file"}
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return nil, true, &UnsafePathError{Path: path, Problem: fmt.Sprintf("belongs to uid %d, not to you (uid %d)", uid, os.Geteuid())}
	}
	data, err = io.ReadAll(f)
	if err != nil {
		return nil, true, fmt.Errorf("read %q: %w", path, err)
	}
	return data, true, nil
}

// RemoveFiles removes files and then dirs, as keyless recorded creating
// them (dirs parents first): a file only while it is this user's regular
// file (a symbolic link or another user's file put in its place stays, and
// is reported), a directory only while it is this user's and empty. It
// returns how many files it removed.
func RemoveFiles(files, dirs []string) (int, error) {
	var errs []error
	removed := 0
	for _, f := range files {
		ok, err := removeOwn(f, false)
		if ok {
			removed++
		}
		errs = append(errs, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_, err := removeOwn(dirs[i], true)
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

func removeOwn(path string, dir bool) (bool, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return false, fmt.Errorf("not removing %q: keyless records only clean absolute paths", path)
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("remove %q: %w", path, err)
	}
	switch {
	case dir && (!fi.IsDir() || fi.Mode()&os.ModeSymlink != 0):
		return false, fmt.Errorf("not removing %q: it is no longer the directory keyless created", path)
	case !dir && !fi.Mode().IsRegular():
		return false, fmt.Errorf("not removing %q: it is no longer the file keyless wrote (not a regular file)", path)
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return false, fmt.Errorf("not removing %q: it belongs to uid %d, not to you (uid %d)", path, uid, os.Geteuid())
	}
	if err := os.Remove(path); err != nil {
		if dir || errors.Is(err, os.ErrNotExist) {
			return false, nil // a directory that is not empty stays
		}
		return false, fmt.Errorf("remove %q: %w", path, err)
	}
	return true, nil
}

// Cleanup removes the files c lists and the directories keyless created for
// them, when empty.
func (c *Credentials) Cleanup() error {
	_, err := RemoveFiles(c.Files, c.Dirs)
	seen := map[string]bool{}
	for _, f := range c.Files {
		if d := filepath.Dir(f); !seen[d] {
			seen[d] = true
			err = errors.Join(err, tidyStateDir(d))
		}
	}
	return err
}

// tidyStateDir removes the state directory dir's manifest, and dir itself
// if keyless made it, once every file the manifest lists is gone: what an
// exec-mode command leaves when it has ended. A state directory that still
// holds a recorded file (a Vault token kept for keyless cleanup) stays as
// it is; a directory that is no state directory is not touched.
func tidyStateDir(dir string) error {
	if ok, err := CheckStateDir(dir); !ok || err != nil {
		return nil // not ours to tidy; keyless cleanup says why
	}
	_, files, err := readManifest(dir)
	if err != nil || files == nil {
		return nil // no manifest: no state directory of keyless's
	}
	for _, f := range files[:len(files)-1] { // the manifest itself is last
		if _, err := os.Lstat(f); err == nil {
			return nil // still holds something keyless cleanup must see
		}
	}
	return RemoveStateDir(dir)
}

// readManifest reads dir's manifest: whether keyless made dir, and the
// paths of the files it wrote there, the manifest itself last; nil files
// when there is no manifest.
func readManifest(dir string) (created bool, files []string, err error) {
	m := filepath.Join(dir, StateManifest)
	if _, err := os.Lstat(m); errors.Is(err, os.ErrNotExist) {
		return false, nil, nil
	}
	sf, err := readStateFile(m)
	if err != nil {
		return false, nil, err
	}
	for _, line := range strings.Split(string(sf.Data), "\n") {
		if line == manifestCreated {
			created = true
		} else if name, ok := strings.CutPrefix(line, manifestFile); ok && stateFileName(name) {
			files = append(files, filepath.Join(dir, name))
		}
	}
	return created, append(files, m), nil
}

// StateManifest is the file in a state directory that lists what keyless
// made there, one entry a line, so that cleanup removes that and nothing
// else: KEYLESS_STATE_DIR may name a directory with other files in it. It
// holds no secret; exec mode removes it with the directory once the
// files it lists are gone, and keyless cleanup otherwise.
const StateManifest = ".keyless-state"

const (
	manifestCreated = "created" // keyless made the directory itself
	manifestFile    = "file "   // then the name of a file keyless wrote in it
)

// MakeStateDir creates the state directory dir with mode 0700 (its
// missing parents too), or checks the one there: it must be this user's,
// mode 0700, not a symbolic link. Mkdir fails on a name that exists, so a
// directory another user made first is found and refused, never adopted.
func MakeStateDir(dir string) error {
	created, err := makeDirs(dir, func(fi os.FileInfo) string { return privateProblem(fi, true) }, func(at, problem string) error {
		if at != dir {
			problem = fmt.Sprintf("would be made in %q, which %s", at, problem)
		}
		return &StateError{Path: dir, Problem: problem}
	})
	if err != nil {
		return err
	}
	if len(created) > 0 && created[len(created)-1] == dir {
		if err := appendManifest(dir, manifestCreated); err != nil {
			removeDirs(created)
			return err
		}
	}
	return nil
}

// CheckStateDir reports whether the state directory dir exists, and
// refuses it with a *StateError when it is not this user's private
// directory.
func CheckStateDir(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("state directory: %w", err)
	}
	if p := privateProblem(fi, true); p != "" {
		return false, &StateError{Path: dir, Problem: p}
	}
	return true, nil
}

func appendManifest(dir, line string) error {
	p := filepath.Join(dir, StateManifest)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if pr := privateProblem(fi, false); pr != "" {
		return &StateError{Path: p, Problem: pr, File: true}
	}
	// One short write with O_APPEND: two keyless processes of one job
	// cannot interleave their lines.
	if _, err := f.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return f.Close()
}

func stateFileName(name string) bool {
	return name != "" && name != "." && name != ".." && name != StateManifest && !strings.ContainsAny(name, `/\`)
}

// WriteStateFile writes data to the file name in the state directory dir
// (made as MakeStateDir makes it), mode 0600, and records it there for
// RemoveStateDir. It returns the file's path.
func WriteStateFile(dir, name string, data []byte) (string, error) {
	if !stateFileName(name) {
		return "", fmt.Errorf("state file name %q is not a plain file name", name)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	if err := MakeStateDir(dir); err != nil {
		return "", err
	}
	// Recorded first: a file is never left unlisted.
	if err := appendManifest(dir, manifestFile+name); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if _, err := WriteSecretFile(p, data); err != nil {
		return "", err
	}
	return p, nil
}

// NewStateFile is WriteStateFile with a new name: pattern with its "*"
// replaced by random characters, as for os.CreateTemp.
func NewStateFile(dir, pattern string, data []byte) (string, error) {
	return WriteStateFile(dir, strings.Replace(pattern, "*", randomHex(), 1), data)
}

// StateFile is a file read from a state directory.
type StateFile struct {
	Path    string
	Data    []byte
	ModTime time.Time
}

// ReadStateFiles reads the files of the state directory dir whose names
// match pattern, after checking that dir and each file are this user's
// and private (0700, 0600), never through a symbolic link: what they say
// decides which files cleanup deletes and where a Vault token is sent. A
// missing dir has none; a file that fails the check is left out and named
// in the error. The files come oldest first, the order cleanup undoes them
// in.
func ReadStateFiles(dir, pattern string) ([]StateFile, error) {
	if ok, err := CheckStateDir(dir); !ok || err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, err
	}
	var out []StateFile
	var errs []error
	for _, p := range paths {
		sf, err := readStateFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, sf)
	}
	slices.SortStableFunc(out, func(a, b StateFile) int { return a.ModTime.Compare(b.ModTime) })
	return out, errors.Join(errs...)
}

// maxStateFile bounds what is read from a state file; keyless's are small.
const maxStateFile = 1 << 20

func readStateFile(p string) (StateFile, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return StateFile{}, fmt.Errorf("read state file: %w", err)
	}
	if pr := privateProblem(fi, false); pr != "" {
		return StateFile{}, &StateError{Path: p, Problem: pr, File: true}
	}
	f, err := os.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return StateFile{}, fmt.Errorf("read state file: %w", err)
	}
	defer f.Close()
	// Checked again on what was opened.
	if fi, err = f.Stat(); err != nil {
		return StateFile{}, fmt.Errorf("read state file: %w", err)
	}
	if pr := privateProblem(fi, false); pr != "" {
		return StateFile{}, &StateError{Path: p, Problem: pr, File: true}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile))
	if err != nil {
		return StateFile{}, fmt.Errorf("read state file: %w", err)
	}
	return StateFile{Path: p, Data: b, ModTime: fi.ModTime()}, nil
}

// RemoveStateDir removes what keyless recorded making in the state
// directory dir: the files it wrote there and, if keyless made it, the
// directory itself once empty. A directory that is not this user's private
// one is left alone and refused with a *StateError.
func RemoveStateDir(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if ok, err := CheckStateDir(dir); !ok || err != nil {
		return err
	}
	created, files, err := readManifest(dir)
	if err != nil || files == nil {
		return err // nil files: keyless wrote nothing here
	}
	_, err = RemoveFiles(files, nil)
	if !created {
		return err
	}
	if rerr := os.Remove(dir); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		// Not empty: files keyless did not write stay, and the directory
		// stays keyless's for a later cleanup.
		return errors.Join(err, appendManifest(dir, manifestCreated))
	}
	return err
}
