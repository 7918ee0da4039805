package cli

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/secret"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Bounds of token --ttl.
const (
	minTokenTTL = time.Minute
	maxTokenTTL = 30 * 24 * time.Hour
)

func (e *env) tokenCmd() *cobra.Command {
	var id auth.Identity
	var role string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --tenant T --role driver|dispatcher|ops|service --sub ID [--ttl 1h]",
		Short: "Print a signed JWT: an MQTT CONNECT password or an HTTP bearer token",
		Long: `Print a signed JWT and a newline, nothing else, on stdout.

The key is, in this order: auth.private_key_file (a PEM private key, RS256/ES256/ES384/EdDSA,
kid auth.private_key_id or else the key's RFC 7638 thumbprint); auth.hs256_secret_ref (HS256);
or else the development key {data_dir}/dev/jwt.secret, created when missing, which serve --dev
uses as well. The token's aud and iss are auth.audience and auth.issuer.`,
		Example: `  dispatchhub token --tenant acme --role driver --sub drv-42 --ttl 12h`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id.Role = auth.Role(role)
			if err := checkTokenFlags(id, ttl); err != nil {
				return err
			}
			cfg, err := e.load(cmd)
			if err != nil {
				return err
			}
			signer, err := tokenSigner(cfg)
			if err != nil {
				return err
			}
			if len(cfg.Auth.Algorithms) > 0 && !slices.Contains(cfg.Auth.Algorithms, signer.Algorithm()) {
				return fmt.Errorf("auth.algorithms: the hub accepts %v, the configured key signs %s", cfg.Auth.Algorithms, signer.Algorithm())
			}
			token, err := signer.Sign(id, cfg.Auth.Audience, cfg.Auth.Issuer, ttl)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&id.Tenant, "tenant", "", "tenant id (required)")
	f.StringVar(&role, "role", "", "driver, dispatcher, ops or service (required)")
	f.StringVar(&id.Subject, "sub", "", "driver or user id: 1-64 of A-Z, a-z, 0-9, '_' and '-' (required)")
	f.DurationVar(&ttl, "ttl", time.Hour, "lifetime of the token, 1m to 720h (30 days)")
	for _, name := range []string{"tenant", "role", "sub"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// checkTokenFlags validates the flags before anything is read or created.
func checkTokenFlags(id auth.Identity, ttl time.Duration) error {
	switch {
	case !store.ValidTenantID(id.Tenant):
		return fmt.Errorf("tenant: must be 1-40 of a-z, 0-9 and '-', not starting or ending with '-', got %q", id.Tenant)
	case !id.Role.Valid():
		return fmt.Errorf("role: must be one of driver, dispatcher, ops, service, got %q", string(id.Role))
	case !auth.ValidSubject(id.Subject):
		return fmt.Errorf("sub: must be 1-64 of A-Z, a-z, 0-9, '_' and '-', got %q", id.Subject)
	case ttl < minTokenTTL || ttl > maxTokenTTL:
		return fmt.Errorf("ttl: must be between 1m and 720h (30 days), got %s", ttl)
	}
	return nil
}

// tokenSigner picks the key: private key file, then shared secret, then the development key.
func tokenSigner(cfg config.Config) (*auth.Signer, error) {
	switch {
	case cfg.Auth.PrivateKeyFile != "":
		pemBytes, err := os.ReadFile(cfg.Auth.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.private_key_file: %w", err)
		}
		s, err := auth.NewSignerFromPEM(pemBytes, cfg.Auth.PrivateKeyID)
		if err != nil {
			return nil, fmt.Errorf("auth.private_key_file %s: %w", cfg.Auth.PrivateKeyFile, err)
		}
		return s, nil
	case cfg.Auth.HS256SecretRef != "":
		key, err := secret.Resolve(cfg.Auth.HS256SecretRef)
		if err != nil {
			return nil, fmt.Errorf("auth.hs256_secret_ref: %w", err)
		}
		if len(key) < auth.MinHS256SecretLen {
			return nil, fmt.Errorf("auth.hs256_secret_ref: the secret must be at least %d bytes, got %d", auth.MinHS256SecretLen, len(key))
		}
		return auth.NewHS256Signer(key), nil
	}
	key, _, err := auth.DevSecret(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return auth.NewHS256Signer(key), nil
}
