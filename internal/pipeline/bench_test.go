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

// BenchmarkYAMLDecodeCorpus is the baseline: yaml.v3 alone decoding the
// same files into yaml.Node, which bounds BenchmarkLoadCorpus.
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
			_, _ = decodeAll(src)
		}
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}
