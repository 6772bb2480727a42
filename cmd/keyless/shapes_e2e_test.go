package main

import (
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// Every shape GitLab sends (testdata/gitlab/id-tokens), minted by the test
// issuer process and exchanged by the keyless binary at MinIO's STS, a real
// AssumeRoleWithWebIdentity server that verifies the signature and the
// audience, and used by the AWS CLI v2. The shapes keep their own claims
// and types; iss is the test issuer's (MinIO trusts one issuer), and aud
// is MinIO's client id, first in the shape's list where aud is a list.
func TestE2EAWSEveryGitLabShape(t *testing.T) {
	p := e2e(t)
	for _, s := range oidctest.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			aud := p.Aud
			if l, ok := s.Claims["aud"].([]any); ok {
				for _, a := range l[1:] {
					aud += "," + a.(string)
				}
			}
			tok := p.mint(t, "shape="+s.Name+"&aud="+aud)
			r := run(t, []string{"KEYLESS_ID_TOKEN=" + tok}, p.Bin, "aws", "--role-arn", p.RoleARN, "--sts-endpoint", p.MinioURL, "-q", "--",
				p.AWS, "--endpoint-url", p.MinioURL, "s3", "ls")
			if r.Code != 0 {
				t.Errorf("keyless aws -- aws s3 ls: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			v := run(t, []string{"KEYLESS_ID_TOKEN=" + tok}, p.Bin, "token", "--verify", "--aud", p.Aud)
			if v.Code != 0 || !strings.Contains(v.Stdout, "verified against") {
				t.Errorf("keyless token --verify: exit %d\n%s%s", v.Code, v.Stdout, v.Stderr)
			}
			for _, o := range []result{r, v} {
				if strings.Contains(o.Stdout+o.Stderr, tok) {
					t.Error("the token appears in the output")
				}
			}
		})
	}
}
