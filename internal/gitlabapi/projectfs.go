package gitlabapi

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"sync"
	"time"
)

// ProjectFS is a project's repository at one ref, read file by file
// through API.File: an fs.FS (and fs.ReadFileFS) for
// pipeline.Options.FS. It cannot list
// directories (a glob include is then a pipeline problem). Files are
// read once, also when several goroutines ask for one at the same time.
type ProjectFS struct {
	ctx     context.Context
	api     API
	project string
	ref     string

	mu    sync.Mutex
	files map[string]*fsEntry
}

// fsEntry is one file, read or being read (done is closed once b and err
// are set).
type fsEntry struct {
	done chan struct{}
	b    []byte
	err  error
}

// NewProjectFS reads project at ref through api; ref "" is the default
// branch.
func NewProjectFS(ctx context.Context, api API, project, ref string) *ProjectFS {
	return &ProjectFS{ctx: ctx, api: api, project: project, ref: ref, files: map[string]*fsEntry{}}
}

// notExist is a 404 from the API that is also fs.ErrNotExist.
type notExist struct{ err error }

func (e notExist) Error() string        { return e.err.Error() }
func (e notExist) Unwrap() error        { return e.err }
func (e notExist) Is(target error) bool { return target == fs.ErrNotExist }

// ReadFile implements fs.ReadFileFS.
func (f *ProjectFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) || name == "." {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	f.mu.Lock()
	e, ok := f.files[name]
	if !ok {
		e = &fsEntry{done: make(chan struct{})}
		f.files[name] = e
	}
	f.mu.Unlock()
	if ok {
		<-e.done
	} else {
		e.b, e.err = f.api.File(f.ctx, f.project, name, f.ref)
		if errors.Is(e.err, ErrNotFound) {
			e.err = notExist{e.err}
		}
		close(e.done)
	}
	if e.err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: e.err}
	}
	return slices.Clone(e.b), nil
}

// Open implements fs.FS for files; directories cannot be opened.
func (f *ProjectFS) Open(name string) (fs.File, error) {
	b, err := f.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &memFile{name: path.Base(name), b: b}, nil
}

// memFile is a file read whole.
type memFile struct {
	name string
	b    []byte
	off  int
}

func (m *memFile) Stat() (fs.FileInfo, error) { return memInfo{m}, nil }
func (m *memFile) Close() error               { return nil }
func (m *memFile) Read(p []byte) (int, error) {
	if m.off >= len(m.b) {
		return 0, io.EOF
	}
	n := copy(p, m.b[m.off:])
	m.off += n
	return n, nil
}

type memInfo struct{ m *memFile }

func (i memInfo) Name() string       { return i.m.name }
func (i memInfo) Size() int64        { return int64(len(i.m.b)) }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
