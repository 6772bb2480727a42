package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func writeString(path, s string) error {
	return writeAtomicWith(path, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// A report written to a symbolic link replaces the file the link names,
// also one not made yet, and the link stays a link.
func TestWriteAtomicFollowsSymbolicLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "reports", "lint.json")
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "latest.json")
	if err := os.Symlink("reports/lint.json", link); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"first\n", "second\n"} {
		if err := writeString(link, body); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("the link was replaced (err %v)", err)
		}
		if b, err := os.ReadFile(target); err != nil || string(b) != body {
			t.Fatalf("target holds %q, %v; want %q", b, err, body)
		}
	}
}

// A named pipe, like /dev/stdout or /dev/null, is written in place, not
// replaced by a regular file.
func TestWriteAtomicWritesDevicesInPlace(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	if err := writeString(fifo, "report\n"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced (err %v)", err)
	}
	if s := <-got; s != "report\n" {
		t.Errorf("the reader got %q", s)
	}
	entries, _ := os.ReadDir(filepath.Dir(fifo))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// A file that exists keeps its permissions.
func TestWriteAtomicKeepsPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeString(path, strings.Repeat("new", 3)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
}
