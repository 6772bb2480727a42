package oidctest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MintPath is where the process form of the issuer mints tokens for scripts.
// It is served only by the test process, on loopback.
const MintPath = "/-/mint"

// MintHandler mints a token from query parameters: shape (a name from
// Shapes), aud (repeatable or comma-separated), project_path, project_id, ref, ref_type, protected,
// environment, sub, ttl (a Go duration) and age (how long ago it was issued).
func (i *Issuer) MintHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		j := Job{
			Shape:       q.Get("shape"),
			ProjectPath: q.Get("project_path"),
			ProjectID:   q.Get("project_id"),
			Ref:         q.Get("ref"),
			RefType:     q.Get("ref_type"),
			Environment: q.Get("environment"),
			Subject:     q.Get("sub"),
		}
		if _, ok := ShapeNamed(j.Shape); j.Shape != "" && !ok {
			http.Error(w, "shape: no such shape in testdata/gitlab/id-tokens", http.StatusBadRequest)
			return
		}
		for _, a := range q["aud"] {
			j.Audience = append(j.Audience, strings.Split(a, ",")...)
		}
		if p := q.Get("protected"); p != "" {
			j.RefProtected = p == "true"
		}
		for name, dst := range map[string]*time.Duration{"ttl": &j.TTL} {
			if v := q.Get(name); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil {
					http.Error(w, name+": "+err.Error(), http.StatusBadRequest)
					return
				}
				*dst = d
			}
		}
		if v := q.Get("age"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				http.Error(w, "age: "+err.Error(), http.StatusBadRequest)
				return
			}
			j.IssuedAt = i.Now().Add(-d)
		}
		tok, err := i.Mint(j)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwt")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(tok))
	})
}

// RotateHandler rotates the signing key; keep=false drops the old keys.
func (i *Issuer) RotateHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keep, _ := strconv.ParseBool(r.URL.Query().Get("keep"))
		if err := i.Rotate(keep); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
