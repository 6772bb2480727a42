package aws

import (
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func stsPolicyARN(a string) types.PolicyDescriptorType {
	return types.PolicyDescriptorType{Arn: awssdk.String(a)}
}

func fromSTS(c *types.Credentials, region string) *Credentials {
	if c == nil {
		return &Credentials{Region: region}
	}
	return &Credentials{
		AccessKeyID:     secret.New(awssdk.ToString(c.AccessKeyId)),
		SecretAccessKey: secret.New(awssdk.ToString(c.SecretAccessKey)),
		SessionToken:    secret.New(awssdk.ToString(c.SessionToken)),
		Expiration:      awssdk.ToTime(c.Expiration),
		Region:          region,
	}
}
