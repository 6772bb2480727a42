package migrate

import (
	"bytes"
	"io/fs"
	"os"
	"time"
)

// overlay is the project directory with the migrated files in place of
// the originals: what the configuration will be once written, read
// before anything is (to check the result and find the child pipelines'
// jobs that the same edits migrate).
type overlay struct {
	base  fs.FS
	files map[string][]byte
}

func newOverlay(root string, changes []Change) overlay {
	o := overlay{base: os.DirFS(root), files: map[string][]byte{}}
	for _, c := range changes {
		o.files[c.Path] = c.After
	}
	return o
}

func (o overlay) Open(name string) (fs.File, error) {
	if b, ok := o.files[name]; ok {
		return &memFile{Reader: bytes.NewReader(b), name: name, size: int64(len(b))}, nil
	}
	return o.base.Open(name)
}

// ReadDir lists the base directory (glob includes): the overlay changes
// files' contents, never which files exist.
func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(o.base, name) }

type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f, nil }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Name() string               { return f.name }
func (f *memFile) Size() int64                { return f.size }
func (f *memFile) Mode() fs.FileMode          { return 0o644 }
func (f *memFile) ModTime() time.Time         { return time.Time{} }
func (f *memFile) IsDir() bool                { return false }
func (f *memFile) Sys() any                   { return nil }
