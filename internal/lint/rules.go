package lint

// registry is every rule, in documentation order.
var registry = []Rule{
	// secret: secrets written in the configuration
	hardcodedAWSKey,
	hardcodedGCPKey,
	hardcodedAzureSecret,
	hardcodedVaultToken,
	hardcodedGitLabToken,
	hardcodedPrivateKey,
	hardcodedRegistryPassword,
	credentialsInURL,
	hardcodedPackageToken,
	hardcodedSecret,
	// stored: stored long-lived credentials that jobs use
	storedAWSKeys,
	storedGCPKey,
	storedAzureSecret,
	storedVaultToken,
	storedVaultPassword,
	storedSecretManagerKeys,
	storedPackageToken,
	// oidc: ID token mistakes
	deprecatedCIJobJWT,
	idTokensInDefault,
	sharedAudience,
	idTokenLeak,
	plainHTTPExchange,
	idTokensUnprotected,
	debugTrace,
	secretsWithoutToken,
	registryAudience,
	// leak: secrets a job prints or keeps (issue 15)
	secretLeakLog,
	secretLeakArtifact,
	secretLeakDotenv,
	xtraceWithSecrets,
}
