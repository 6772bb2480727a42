package aws

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// partition holds what differs between AWS partitions.
type partition struct {
	name          string
	defaultRegion string
	regionPrefix  string // regions of this partition start with it; "" matches the rest
}

var partitions = []partition{
	{name: "aws-cn", defaultRegion: "cn-north-1", regionPrefix: "cn-"},
	{name: "aws-us-gov", defaultRegion: "us-gov-west-1", regionPrefix: "us-gov-"},
	{name: "aws", defaultRegion: "us-east-1"},
}

func partitionOf(name string) (partition, bool) {
	for _, p := range partitions {
		if p.name == name {
			return p, true
		}
	}
	return partition{}, false
}

func (p partition) hasRegion(region string) bool {
	if p.regionPrefix != "" {
		return strings.HasPrefix(region, p.regionPrefix)
	}
	for _, o := range partitions {
		if o.regionPrefix != "" && strings.HasPrefix(region, o.regionPrefix) {
			return false
		}
	}
	return true
}

// roleARN is a parsed IAM role ARN.
type roleARN struct {
	Partition string
	Account   string
	Name      string // role name with path
}

// parseRoleARN accepts arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME. With a
// custom STS endpoint (MinIO, LocalStack) other ARN shapes pass through.
func parseRoleARN(s string, custom bool) (roleARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return roleARN{}, fmt.Errorf("role ARN %q is not an ARN; it looks like arn:aws:iam::123456789012:role/NAME", s)
	}
	r := roleARN{Partition: parts[1], Account: parts[4], Name: strings.TrimPrefix(parts[5], "role/")}
	if custom {
		return r, nil
	}
	if _, ok := partitionOf(r.Partition); !ok {
		return roleARN{}, option.Errorf("role ARN %q names partition %q; keyless knows aws, aws-cn and aws-us-gov (pass %s for another STS)", s, r.Partition, option.Ref(OptSTSEndpoint))
	}
	if parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || len(r.Account) != 12 || strings.Trim(r.Account, "0123456789") != "" {
		return roleARN{}, fmt.Errorf("role ARN %q is not an IAM role ARN; it looks like arn:%s:iam::123456789012:role/NAME", s, r.Partition)
	}
	return r, nil
}

// resolveRegion picks the region: the one given, else the partition's
// default, and checks that it belongs to the role's partition.
func resolveRegion(region string, arn roleARN, custom bool) (string, error) {
	p, known := partitionOf(arn.Partition)
	if region == "" {
		if known {
			return p.defaultRegion, nil
		}
		return "us-east-1", nil
	}
	if known && !custom && !p.hasRegion(region) {
		return "", fmt.Errorf("region %q is not in partition %q of the role ARN; use a region of that partition, e.g. %s", region, p.name, p.defaultRegion)
	}
	return region, nil
}

// sessionNameOK is STS's RoleSessionName pattern: [\w+=,.@-]{2,64}.
func sessionNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r)
}

// SanitizeSessionName maps s onto STS's RoleSessionName pattern
// [\w+=,.@-]{2,64}: other characters become '-', long names are cut to 64,
// and a name shorter than 2 is padded.
func SanitizeSessionName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == 64 {
			break
		}
		if sessionNameChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	for len(out) < 2 {
		out += "-"
	}
	return out
}

// MaskARN masks the account id in an ARN to its last four digits, for logs
// and messages: arn:aws:iam::********9012:role/deploy.
func MaskARN(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || len(parts[4]) <= 4 {
		return s
	}
	parts[4] = exchange.MaskID(parts[4])
	return strings.Join(parts, ":")
}
