package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// This file reads a project's own files: from Options.FS when it is set
// (a repository read through the GitLab API), else from the disk under
// the project root.

// LoadFS reads o.CIConfig (default ".gitlab-ci.yml") from o.FS and
// everything it includes, as LoadProject does from a directory. The error
// is only for the main file missing or unreadable (errors.Is(err,
// fs.ErrNotExist) works).
func LoadFS(o Options) (*Pipeline, error) {
	if o.FS == nil {
		return nil, errors.New("read ci config: no file system given")
	}
	name := o.CIConfig
	if name == "" {
		name = ".gitlab-ci.yml"
	}
	name = path.Clean(name)
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	l := newLoader("", o)
	size, err := l.statLocal(name)
	if err != nil {
		return nil, fmt.Errorf("read ci config %q: %w", name, err)
	}
	if size > l.maxSize() {
		l.p.Files = append(l.p.Files, &File{Path: name})
		l.problem(Pos{File: name}, "limit", fmt.Sprintf("file is larger than %d bytes; it is not read (raise the limit if it is really a CI config)", l.maxSize()))
		l.finish(&Node{Kind: Map, Tag: "!!map", Pos: Pos{File: name}})
		return l.p, nil
	}
	src, err := l.readLocal(name)
	if err != nil {
		return nil, fmt.Errorf("read ci config %q: %w", name, err)
	}
	return l.run(name, src), nil
}

// statLocal returns the size of the project file p (slash-separated,
// relative to the root); a directory is fs.ErrNotExist.
func (l *loader) statLocal(p string) (int64, error) {
	var st fs.FileInfo
	var err error
	if l.o.FS != nil {
		st, err = fs.Stat(l.o.FS, p)
	} else {
		st, err = os.Stat(filepath.Join(l.root, filepath.FromSlash(p)))
	}
	if err != nil {
		return 0, err
	}
	if st.IsDir() {
		return 0, fs.ErrNotExist
	}
	return st.Size(), nil
}

// readLocal reads the project file p.
func (l *loader) readLocal(p string) ([]byte, error) {
	if l.o.FS != nil {
		return fs.ReadFile(l.o.FS, p)
	}
	return os.ReadFile(filepath.Join(l.root, filepath.FromSlash(p)))
}

// fsTree lists o.FS's files into l.tree once, as glob does for the disk.
// Unlike the disk walk it fails when the root cannot be listed: an
// API-backed FS that cannot list directories leaves a glob unresolved
// rather than matching nothing.
func (l *loader) fsTree() error {
	if l.tree != nil {
		return nil
	}
	var tree []string
	err := fs.WalkDir(l.o.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if !d.IsDir() && len(tree) < 100_000 {
			tree = append(tree, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(tree)
	l.tree = tree
	if l.tree == nil {
		l.tree = []string{}
	}
	return nil
}
