package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const canary = "CANARY-secret-7f3a9c"

func TestTokenNeverFormatsItsValue(t *testing.T) {
	tok := New(canary)
	wrapper := struct {
		Token Token
		Ptr   *Token
	}{tok, &tok}

	var outs []string
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, wrapper), fmt.Sprintf(verb, &tok))
	}
	outs = append(outs, fmt.Sprint(tok), fmt.Sprintln(tok), tok.String(), tok.GoString())
	outs = append(outs, fmt.Errorf("exchange: %w", errors.New(fmt.Sprint(tok))).Error())

	j, err := json.Marshal(wrapper)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	m, err := json.Marshal(map[string]any{"t": tok})
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(m))

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("msg", "token", tok, "wrapped", wrapper, slog.Any("ptr", &tok))
	}
	outs = append(outs, buf.String())

	for _, o := range outs {
		if strings.Contains(o, canary) {
			t.Errorf("secret leaked: %s", o)
		}
		if strings.Contains(o, "%!") {
			t.Errorf("bad formatting: %s", o)
		}
	}
	if !strings.Contains(string(j), Redacted) {
		t.Errorf("json = %s, want the redaction marker", j)
	}
}

func TestReveal(t *testing.T) {
	tok := New(canary)
	if tok.Reveal() != canary {
		t.Fatal("Reveal did not return the value")
	}
	if tok.IsZero() || !New("").IsZero() {
		t.Fatal("IsZero wrong")
	}
	if tok.Len() != len(canary) {
		t.Fatal("Len wrong")
	}
}
