package pipeline

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoadCorpus loads every corpus file as GitLab would read it and
// reports the bytes of YAML read per second.
func BenchmarkLoadCorpus(b *testing.B) {
	dir := corpusDirs(b)[0]
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (filepath.Ext(p) == ".yml" || filepath.Ext(p) == ".yaml") {
			files = append(files, p)
		}
		return nil
	})
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bytes = 0
		for _, f := range files {
			p, err := LoadFile(f, Options{})
			if err != nil {
				b.Fatal(err)
			}
			for _, pf := range p.Files {
				bytes += int64(len(pf.Src))
			}
		}
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	b.SetBytes(bytes)
}

// BenchmarkYAMLDecodeCorpus is the decoding alone of the same files into
// yaml.Node (yamlfast, and yaml.v3 for what yamlfast leaves), which bounds
// BenchmarkLoadCorpus; yamlfast.BenchmarkCorpus holds yamlfast to yaml.v3.
func BenchmarkYAMLDecodeCorpus(b *testing.B) {
	dir := corpusDirs(b)[0]
	var srcs [][]byte
	var bytes int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (filepath.Ext(p) == ".yml" || filepath.Ext(p) == ".yaml") {
			if src, err := os.ReadFile(p); err == nil {
				srcs = append(srcs, src)
				bytes += int64(len(src))
			}
		}
		return nil
	})
	b.SetBytes(bytes)
	b.ResetTimer()
	for b.Loop() {
		for _, src := range srcs {
			_, _ = decodeAll(src, nil)
		}
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// BenchmarkLoadProjectsCorpus is pipeline's part of keyless lint -r over
// the corpus (internal/lint's BenchmarkLintCorpus): each project read with
// LoadProject, then the views of the jobs of it and its child pipelines.
func BenchmarkLoadProjectsCorpus(b *testing.B) {
	var dirs []string
	_ = filepath.WalkDir(filepath.Join("..", "..", "testdata", "corpus"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == ".gitlab-ci.yml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	if len(dirs) == 0 {
		b.Skip("no corpus found")
	}
	b.ReportAllocs()
	for b.Loop() {
		jobs := 0
		for _, d := range dirs {
			p, err := LoadProject(d, Options{})
			if err != nil {
				b.Fatal(err)
			}
			jobs += len(p.EveryJobView())
		}
		if jobs == 0 {
			b.Fatal("no jobs in the corpus")
		}
	}
}
