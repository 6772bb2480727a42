// Package compile writes a pipeline's merged configuration
// (pipeline.Pipeline.Merged) in the formats `keyless compile` prints: YAML
// that GitLab reads back to the same configuration, and JSON. Each format
// is one file behind Encoder, selected in New.
package compile

import (
	"fmt"
	"io"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// Encoder writes one configuration.
type Encoder interface {
	Encode(w io.Writer, config *pipeline.Node) error
}

// formats are the encoders by name, in the order help lists them.
var formats = []struct {
	name string
	enc  Encoder
}{
	{"yaml", yamlEncoder{}},
	{"json", jsonEncoder{}},
}

// Names lists the formats.
func Names() []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.name
	}
	return out
}

// New returns the encoder of format name.
func New(name string) (Encoder, error) {
	for _, f := range formats {
		if f.name == name {
			return f.enc, nil
		}
	}
	return nil, fmt.Errorf("unknown format %q: use %s", name, strings.Join(Names(), " or "))
}
