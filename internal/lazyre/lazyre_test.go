package lazyre

import (
	"sync"
	"testing"
)

func TestNewCompilesOnceAtFirstUse(t *testing.T) {
	re := New(`^a+$`)
	var wg sync.WaitGroup
	got := make(chan any, 8)
	for range 8 {
		wg.Go(func() { got <- re() })
	}
	wg.Wait()
	close(got)
	first := re()
	for p := range got {
		if p != first {
			t.Fatal("New's function returned two different *regexp.Regexp")
		}
	}
	if !first.MatchString("aaa") || first.MatchString("ab") {
		t.Fatalf("New(`^a+$`) compiled %q", first)
	}
}

func TestNewPanicsAtFirstUseNotBefore(t *testing.T) {
	re := New(`(`) // no panic here
	defer func() {
		if recover() == nil {
			t.Fatal("an invalid expression did not panic at its first use")
		}
	}()
	re()
}
